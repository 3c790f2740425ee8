import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import type { FastifyInstance } from 'fastify';
import type { OpenAPI3 } from 'openapi-typescript';
import { createClient, type Client } from '../../client/index.js';

/**
 * A fetch that answers through `app.inject` (no socket), for the typed client in tests. The
 * answer keeps the app's status, headers and bytes.
 */
export function injectFetch(app: FastifyInstance): (req: Request) => Promise<Response> {
  return async (req) => {
    const url = new URL(req.url);
    const body = req.body ? Buffer.from(await req.arrayBuffer()) : undefined;
    const res = await app.inject({
      method: req.method as 'GET',
      url: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      ...(body && { payload: body }),
    });
    const headers = new Headers();
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : String(v));
    return new Response(res.statusCode === 204 ? null : new Uint8Array(res.rawPayload), { status: res.statusCode, headers });
  };
}

/**
 * A checker of answers against an OpenAPI document: `check(method, path, status, type, body)`
 * gives what is wrong with one answer (`path` as the document writes it, `/v1/filters/{id}`),
 * or undefined when it is as documented: its status is documented for the operation, a body
 * only where one is, its content type among the documented ones, and a JSON body matches the
 * schema. Schemas are compiled once per operation and status, with the document's components
 * beside them so `#/components/schemas/X` (the recursive Filter too) resolves.
 */
export function answerChecker(doc: OpenAPI3): (method: string, path: string, status: number, type: string, text: string) => string | undefined {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  const validators = new Map<string, ValidateFunction>();
  return (method, path, status, type, text) => {
    const name = `${method} ${path} -> ${status}`;
    const op = (doc.paths?.[path] as Record<string, { responses?: Record<string, { content?: Record<string, { schema: unknown }> }> }> | undefined)?.[method.toLowerCase()];
    const documented = op?.responses?.[String(status)];
    if (!documented) return `${name}: status not documented`;
    if (!documented.content) return text ? `${name}: a body where none is documented` : undefined;
    const media = documented.content[type];
    if (!media) return `${name}: content-type ${type} not documented`;
    if (type !== 'application/json') return undefined;
    let validate = validators.get(name);
    if (!validate) validators.set(name, (validate = ajv.compile({ ...(media.schema as object), components: doc.components })));
    return validate(JSON.parse(text)) ? undefined : `${name}: ${ajv.errorsText(validate.errors)} in ${text.slice(0, 300)}`;
  };
}

/**
 * The typed client over `app.inject`, checking every answer against the document the app
 * serves (answerChecker). What does not match is recorded in `mismatches` (a test asserts it
 * stays empty): the document cannot drift from the answers the routes send.
 */
export function documentedClient(app: FastifyInstance, doc: OpenAPI3, key?: string): { api: Client; mismatches: string[] } {
  const check = answerChecker(doc);
  const mismatches: string[] = [];
  const api = createClient({ baseUrl: 'http://tierstream.test', fetch: injectFetch(app), ...(key !== undefined && { key }) });
  api.use({
    async onResponse({ schemaPath, request, response }) {
      const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
      const wrong = check(request.method, schemaPath, response.status, type, await response.clone().text());
      if (wrong) mismatches.push(wrong);
    },
  });
  return { api, mismatches };
}
