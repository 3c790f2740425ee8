import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { STATUS_CODES } from 'node:http';
import { Ajv } from 'ajv';
import { checkRouteScope, registerAuth, type ApiKey } from './auth.js';
import type { Logger } from 'pino';
import { FILTER_SCHEMA, type DeadLetterStore, type EventSink, type History, type HotIndex, type Limits, type Metrics, type Readiness, type SourceIdSets, type SourceRegistry, withDeadline } from '../core/index.js';
import type { Erasures } from '../engine/erasures/index.js';
import type { TierManager } from '../engine/tiers/index.js';
import type { FilterService } from '../engine/filters/index.js';
import type { Lookup } from '../engine/lookup/index.js';
import { API_ERRORS, ApiError, fromDomainError, isStoreUnavailable, type ApiErrorCode } from './errors.js';
import { healthRoutes } from './routes/health.js';
import { schemaRoutes } from './routes/schema.js';
import { sourceRoutes } from './routes/sources.js';
import { userRoutes } from './routes/users.js';
import { filterRoutes } from './routes/filters.js';
import { retargetingRoutes } from './routes/retargeting.js';
import { expiringRoutes } from './routes/expiring.js';
import { erasureRoutes } from './routes/erasures.js';
import { listingRoutes } from './routes/listing.js';
import { overviewRoutes } from './routes/overview.js';
import { ingestRoutes } from './routes/ingest.js';
import { deadLetterRoutes } from './routes/dead-letters.js';
import { consoleRoutes } from './console.js';
import { describeRoute, OPENAPI_OPTIONS } from './openapi.js';
import { SHARED_SCHEMAS } from './schemas.js';

/** What the API needs; each piece is an interface so tests can hand in their own. */
export interface AppDeps {
  registry: SourceRegistry;
  hot: HotIndex;
  history: History;
  metrics: Metrics;
  /** Told how long each lookup took (its reply's elapsed time, ms): the ingest-yield signal. */
  lookupWatch?: { observe(ms: number): void };
  /** Prometheus text for /metrics (default: this process's registry; supervised: every process's). */
  metricsText?: () => Promise<string>;
  /** Whether the API serves /metrics (default true; false when it has a listen address of its own). */
  metricsRoute?: boolean;
  tiers: TierManager;
  /** TIER_EXPIRE_AFTER as configured (ISO-8601), shown by GET /v1/overview; absent: shown as null. */
  expireAfter?: string;
  filters: FilterService;
  erasures: Erasures;
  lookup: Lookup;
  /** Each source's variant and step ids: dropped with a deleted source. */
  sourceIds?: SourceIdSets;
  /** The named limits (default LIMIT_DEFAULTS): sources and tags per source here, filters in the filter service. */
  limits?: Limits;
  /** Named checks for /readyz: each resolves to null when healthy, or what is wrong. */
  readiness: () => Promise<Readiness>;
  logger?: Logger | false;
  /** API keys; undefined turns auth off (loopback only, enforced by the entry point). */
  apiKeys?: ApiKey[];
  /** Requests per second per key (per client address without keys) on /v1 (default 5_000). */
  rateLimitPerSecond?: number;
  /**
   * Longest a /v1 request may wait on the stores before it is answered 503
   * `store_unavailable` (default 10_000 ms). Redis commands queue while it reconnects, so
   * without a deadline a send-time lookup would hang for the whole outage.
   */
  requestTimeoutMs?: number;
  /**
   * Longest a request may take to arrive, headers and body, before the socket is answered 408
   * and closed (default 30_000 ms). Without it a client that sends its headers and trickles
   * or stops its body holds a socket for ever.
   */
  receiveTimeoutMs?: number;
  /** Where POST /v1/events and /v1/ingest/* publish (JetStream); absent: they answer 503. */
  events?: EventSink;
  /** The dead-letter stream, for GET /v1/dead-letters and replays; absent: they answer 503. */
  deadLetters?: DeadLetterStore;
  /** TIERSTREAM_MAX_FUTURE, ms: events further ahead of now are refused `time_in_future` over HTTP. */
  maxFutureMs?: number;
  /** TIERSTREAM_INGEST_RATE: events per second per key on the ingestion routes (default 50,000). */
  ingestEventsPerSecond?: number;
}

/** Throws on invalid UTF-8 (an invalid byte, overlong form, encoded surrogate, truncated sequence); a BOM stays and is refused by JSON. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Longest path parameter, in characters: ids are at most 128, and percent-encoding may triple them. */
export const MAX_PARAM_LENGTH = 400;

/**
 * One validator per part of the request. Bodies are JSON and keep their types: `null`, `true`
 * or `"u1"` where a time, a string or an array is expected is a 400, never coerced. Query
 * strings and path parameters arrive as text, so there numbers are coerced (`limit=10`).
 */
function validatorCompiler() {
  const base = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false } as const;
  const body = new Ajv({ ...base, coerceTypes: false });
  // A filter's grammar is checked by parseFilter, which answers 400 invalid_filter naming the
  // offending node's path; a schema validator would answer a oneOf's failure instead. So here
  // `Filter` takes any value, while the document's `Filter` (core filterSchemas) is the grammar
  // itself: test/unit/filter-schema.test.ts checks that the two agree.
  body.addSchema({ $id: FILTER_SCHEMA, description: 'checked by parseFilter' });
  const text = new Ajv({ ...base, coerceTypes: 'array' });
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) =>
    (httpPart === 'body' ? body : text).compile(schema) as (data: unknown) => boolean;
}

/**
 * Errors Node's HTTP parser raises before there is a request (a body that did not arrive in
 * time, headers too large, bytes that are not HTTP), answered in the API's error shape (docs/errors.md) on the
 * raw socket, which is then closed.
 */
function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: import('node:stream').Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message]: [ApiErrorCode, string] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? ['request_timeout', 'the request did not arrive in time (headers and body)']
      : err.code === 'HPE_HEADER_OVERFLOW' ? ['headers_too_large', 'the request headers are too large']
        : ['invalid_request', 'not a valid HTTP request'];
  const status = API_ERRORS[code];
  const body = JSON.stringify({ error: code, message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/** Builds the Fastify app without listening: the process entry point listens, tests inject. */
export function buildApp(deps: AppDeps, opts: FastifyServerOptions = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger || undefined,
    bodyLimit: 1_048_576,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Two log lines per request cost more than a lookup at thousands of requests per second;
    // errors are still logged, and /metrics counts requests.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    requestTimeout: deps.receiveTimeoutMs ?? 30_000,
    // Node checks those deadlines every connectionsCheckingInterval (30 s by default): once a
    // second keeps the bound near the configured value.
    http: { headersTimeout: deps.receiveTimeoutMs ?? 30_000, connectionsCheckingInterval: 1_000 },
    // Errors the router raises before a route is found get the same error shape too (docs/errors.md).
    frameworkErrors: (err, _req, reply) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      void (reply as FastifyReply).status(400).send({
        error: 'invalid_request',
        message: tooLong ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters` : 'the path is not a valid URL',
      });
    },
    clientErrorHandler,
    ...opts,
  });
  // Fastify strips unknown properties and coerces types by default; the API rejects both (400 `invalid_request`).
  app.setValidatorCompiler(validatorCompiler());
  // Bodies as bytes, decoded strictly: Fastify's own parser decodes with U+FFFD in place of
  // invalid UTF-8, so a mangled name or id was stored as if sent. Events refuse it too.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    let text: string;
    try {
      text = STRICT_UTF8.decode(body as Buffer);
    } catch {
      return done(new ApiError('invalid_json', 'the body is not valid UTF-8'), undefined);
    }
    jsonParser(req, text, done);
  });

  const sendApiError = (reply: FastifyReply, err: ApiError) => {
    if (err.status === 503) reply.header('retry-after', '1');
    return reply.status(err.status).send({ error: err.code, message: err.message, ...err.extra });
  };
  app.setErrorHandler((err, req, reply) => {
    const known = fromDomainError(err);
    if (known) return sendApiError(reply, known);
    const e = err as { validation?: unknown; statusCode?: number; code?: string; message: string };
    if (e.validation) return reply.status(400).send({ error: 'invalid_request', message: e.message });
    if (e.statusCode === 413) return reply.status(413).send({ error: 'payload_too_large', message: e.message });
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.status(400).send({ error: 'invalid_request', message: e.message });
    }
    if (isStoreUnavailable(err)) {
      req.log.warn({ err }, 'a store did not answer');
      return sendApiError(reply, new ApiError('store_unavailable', `a store did not answer: ${e.message}`));
    }
    req.log.error({ err }, 'request failed');
    return reply.status(500).send({ error: 'internal_error', message: 'internal error' });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

  // OpenAPI from the routes' own schemas, at /docs (UI) and /docs/json; assets served locally.
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  app.register(swagger, OPENAPI_OPTIONS);
  app.register(swaggerUi, { routePrefix: '/docs' });
  app.register(rateLimit, {
    max: deps.rateLimitPerSecond ?? 5_000,
    timeWindow: 1_000,
    // The route that matched decides, as for authentication: the raw URL can be encoded.
    allowList: (req) => req.routeOptions.config.scope === undefined,
    keyGenerator: (req) => req.apiKey?.id ?? req.ip,
    errorResponseBuilder: (_req, ctx) => new ApiError('rate_limited', `more than ${ctx.max} requests per second; retry after ${ctx.after}`),
  });
  registerAuth(app, deps.apiKeys);
  // Every /v1 route declares the scope it needs: a route that forgets fails here, at start-up.
  app.addHook('onRoute', checkRouteScope);
  app.addHook('onRoute', describeRoute);
  app.addHook('onResponse', async (req, reply) => {
    if (req.routeOptions.config.scope === 'lookup' && req.method === 'POST') deps.lookupWatch?.observe(reply.elapsedTime);
    deps.metrics.httpRequests.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  // Every /v1 handler races a deadline: a store that does not answer yields a prompt 503
  // (with Retry-After), not a request hanging for the length of the outage. The handler's
  // own work goes on in the background and its late answer is dropped.
  const deadlineMs = deps.requestTimeoutMs ?? 10_000;
  app.addHook('onRoute', (route) => {
    if (!route.url?.startsWith('/v1/')) return;
    const handler = route.handler as (this: FastifyInstance, req: FastifyRequest, reply: FastifyReply) => unknown;
    route.handler = function (this: FastifyInstance, req: FastifyRequest, reply: FastifyReply) {
      return withDeadline(Promise.resolve(handler.call(this, req, reply)), deadlineMs, () => new ApiError('store_unavailable', `no answer from the stores within ${deadlineMs} ms`));
    };
  });
  app.register(async (api) => {
    healthRoutes(api, deps);
    schemaRoutes(api);
    sourceRoutes(api, deps);
    userRoutes(api, deps);
    filterRoutes(api, deps);
    retargetingRoutes(api, deps);
    expiringRoutes(api, deps);
    erasureRoutes(api, deps);
    listingRoutes(api, deps);
    overviewRoutes(api, deps);
    ingestRoutes(api, deps);
    deadLetterRoutes(api, deps);
    // The web console (outside /v1: no key, no rate limit; it calls /v1 with the operator's key).
    consoleRoutes(api);
  });
  return app;
}
