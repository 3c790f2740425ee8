/**
 * A typed client of the tierstream HTTP API: openapi-fetch over the types that
 * `npm run openapi` generates from the API's own OpenAPI document (client/openapi.ts), so a
 * path, a body or an answer the API does not have is a type error.
 *
 *   const api = createClient({ baseUrl: 'http://127.0.0.1:8080', key: process.env.KEY });
 *   const { data, error } = await api.GET('/v1/campaigns/{id}', { params: { path: { id: 'A' } } });
 *
 * It imports nothing else of tierstream. It is also a package of its own, `@tierstream/client`
 * (client/package.json): `npm run build:client` compiles it to ESM and .d.ts in client/dist, and
 * another service installs the tarball `npm pack` makes (docs/api.md, "The typed client").
 */
import createFetchClient from 'openapi-fetch';
import type { components, operations, paths } from './openapi.js';

export type { components, operations, paths };
/** The named schemas of the document: `Schemas['SourceState']`, `Schemas['ApiError']`, ... */
export type Schemas = components['schemas'];

export interface ClientOptions {
  /** Where the API listens, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** An API key of TIERSTREAM_API_KEYS, sent as `Authorization: Bearer <key>`; none when auth is off. */
  key?: string;
  /** The fetch to use (default: the global one); tests hand in one that calls `app.inject`. */
  fetch?: (input: Request) => Promise<Response>;
}

/** A client whose `GET`, `PUT`, `POST`, `DELETE` take the document's paths and return `{ data, error, response }`. */
export function createClient(opts: ClientOptions) {
  return createFetchClient<paths>({
    baseUrl: opts.baseUrl,
    ...(opts.key !== undefined && { headers: { authorization: `Bearer ${opts.key}` } }),
    ...(opts.fetch && { fetch: opts.fetch }),
  });
}

export type Client = ReturnType<typeof createClient>;
