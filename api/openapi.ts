import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import type { RouteOptions } from 'fastify';
import type { ApiErrorCode } from './errors.js';
import { errorAnswers } from './schemas.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The error codes a route answers beyond those every `/v1` route may answer (invalid_request,
     * unauthorized, forbidden, rate_limited, internal_error, store_unavailable; invalid_json and payload_too_large with a body):
     * they become its documented error answers.
     */
    errors?: readonly ApiErrorCode[];
  }
}

/** Groups of operations in the document, in the order a reader meets them. */
const TAGS = [
  { name: 'sources', description: 'Campaigns and canvases: lifecycle, tier state, restore and demotion' },
  { name: 'filters', description: 'Registered retargeting filters: they pin the sources they name' },
  { name: 'retargeting', description: 'Retargeting lookups: check, count, audience' },
  { name: 'users', description: "A user's interactions, and erasure of a user" },
  { name: 'expiry', description: 'What will expire soon' },
  { name: 'ingest', description: 'Events over HTTP: tierstream events, Braze Currents, Segment; dead letters' },
  { name: 'health', description: 'Liveness, readiness and metrics (no key)' },
];

/**
 * The OpenAPI document's frame (@fastify/swagger fills in the paths from the routes' schemas).
 * OpenAPI 3.1, whose schemas are JSON Schema: the routes' schemas go in as they are
 * (`type: ['string', 'null']` and all), with no translation to 3.0's `nullable`.
 */
export const OPENAPI_OPTIONS: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'tierstream',
      version: '1',
      description:
        'Message-interaction data with tiered storage: retargeting lookups, tier state, restore. ' +
        'Errors are `{"error": code, "message": ...}` with the codes of docs/errors.md. With keys configured ' +
        '(TIERSTREAM_API_KEYS) every /v1 operation needs `Authorization: Bearer <key>` with the scope its ' +
        '`x-scope` names (admin implies all); without keys, auth is off and the header is ignored.',
    },
    // Relative: Swagger UI resolves it against the address it fetched /docs/json from, so "Try it
    // out" works on whatever host and port (or proxy) serves the API, not only the defaults.
    servers: [{ url: '/', description: 'the address this document was fetched from (the API serves it itself, at /docs/json)' }],
    tags: TAGS,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API key of TIERSTREAM_API_KEYS' } } },
  },
  // Shared schemas (addSchema) are named in components/schemas by their $id, not def-0, def-1.
  refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
};

/** Errors every `/v1` route may answer, whatever it does. */
const EVERY_V1_ROUTE: readonly ApiErrorCode[] = ['invalid_request', 'unauthorized', 'forbidden', 'rate_limited', 'internal_error', 'store_unavailable'];

/**
 * onRoute hook: documents what the app adds to every `/v1` route, from the route's own config,
 * so that no route can forget it: the Bearer scheme and the scope (`security`, `x-scope`, a line
 * of the description), and the error answers (the common ones, invalid_json and payload_too_large for a body,
 * and `config.errors`), which also serialize those answers.
 */
export function describeRoute(route: RouteOptions): void {
  const scope = route.config?.scope;
  if (scope === undefined) return;
  const schema = (route.schema ??= {}) as Record<string, unknown>;
  const codes = [...EVERY_V1_ROUTE, ...(schema.body ? ['invalid_json', 'payload_too_large'] as const : []), ...(route.config?.errors ?? [])];
  schema.security = [{ bearer: [] }];
  schema['x-scope'] = scope;
  schema.description = [schema.description, `Scope: ${scope} (admin implies all).`].filter(Boolean).join(' ');
  schema.response = { ...(schema.response as object | undefined), ...errorAnswers(codes) };
}
