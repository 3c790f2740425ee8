import { Ajv, type ValidateFunction } from 'ajv';
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

/** `#/components/schemas/X` references replaced by the schemas (ours are not recursive), for Ajv. */
function inline(schema: unknown, doc: OpenAPI3): unknown {
  if (Array.isArray(schema)) return schema.map((s) => inline(s, doc));
  if (!schema || typeof schema !== 'object') return schema;
  const ref = (schema as { $ref?: string }).$ref;
  if (ref?.startsWith('#/components/schemas/')) return inline(doc.components!.schemas![ref.slice('#/components/schemas/'.length)], doc);
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inline(v, doc)]));
}

/**
 * The typed client over `app.inject`, checking every answer against the document the app
 * serves: its status must be documented for the operation, and its JSON body must match the
 * schema documented for that status. What does not is recorded in `mismatches` (a test
 * asserts it stays empty): the document cannot drift from the answers the routes send.
 */
export function documentedClient(app: FastifyInstance, doc: OpenAPI3, key?: string): { api: Client; mismatches: string[] } {
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  const validators = new Map<string, ValidateFunction>();
  const mismatches: string[] = [];
  const api = createClient({ baseUrl: 'http://tierstream.test', fetch: injectFetch(app), ...(key !== undefined && { key }) });
  api.use({
    async onResponse({ schemaPath, request, response }) {
      const name = `${request.method} ${schemaPath} -> ${response.status}`;
      const op = (doc.paths?.[schemaPath] as Record<string, { responses?: Record<string, { content?: Record<string, { schema: unknown }> }> }> | undefined)?.[request.method.toLowerCase()];
      const documented = op?.responses?.[String(response.status)];
      if (!documented) return void mismatches.push(`${name}: status not documented`);
      const text = await response.clone().text();
      if (!documented.content) return void (text && mismatches.push(`${name}: a body where none is documented`));
      const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
      const media = documented.content[type];
      if (!media) return void mismatches.push(`${name}: content-type ${type} not documented`);
      if (type !== 'application/json') return;
      const schema = media.schema;
      let validate = validators.get(name);
      if (!validate) validators.set(name, (validate = ajv.compile(inline(schema, doc) as object)));
      if (!validate(JSON.parse(text))) mismatches.push(`${name}: ${ajv.errorsText(validate.errors)} in ${text.slice(0, 300)}`);
    },
  });
  return { api, mismatches };
}
