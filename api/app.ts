import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { registerAuth, type ApiKey } from './auth.js';
import type { Logger } from 'pino';
import type { Metrics } from '../engine/metrics.js';
import type { History, HotIndex, SourceRegistry } from '../engine/types.js';
import type { FilterService, TierManager } from '../engine/tiers/index.js';
import type { Lookup } from '../engine/lookup/index.js';
import { withDeadline } from '../engine/deadline.js';
import { ApiError, isStoreUnavailable } from './errors.js';
import { healthRoutes } from './routes/health.js';
import { sourceRoutes } from './routes/sources.js';
import { userRoutes } from './routes/users.js';
import { filterRoutes } from './routes/filters.js';
import { retargetingRoutes } from './routes/retargeting.js';
import { consoleRoutes } from './console.js';

/** What the API needs; each piece is an interface so tests can hand in their own. */
export interface AppDeps {
  registry: SourceRegistry;
  hot: HotIndex;
  history: History;
  metrics: Metrics;
  tiers: TierManager;
  filters: FilterService;
  lookup: Lookup;
  /** Named checks for /readyz: each resolves to null when healthy, or what is wrong. */
  readiness: () => Promise<Record<string, string | null>>;
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
    // Fastify strips unknown properties by default; the contract rejects them.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    ...opts,
  });

  const sendApiError = (reply: FastifyReply, err: ApiError) => {
    if (err.status === 503) reply.header('retry-after', '1');
    return reply.status(err.status).send({ error: err.code, message: err.message, ...err.extra });
  };
  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ApiError) return sendApiError(reply, err);
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
  app.register(swagger, {
    openapi: {
      info: { title: 'tierstream', version: '1', description: 'Message-interaction data with tiered storage. See docs/errors.md for error codes.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: deps.apiKeys ? [{ bearer: [] }] : [],
    },
  });
  app.register(swaggerUi, { routePrefix: '/docs' });
  app.register(rateLimit, {
    max: deps.rateLimitPerSecond ?? 5_000,
    timeWindow: 1_000,
    allowList: (req) => !req.url.startsWith('/v1/'),
    keyGenerator: (req) => req.apiKey?.id ?? req.ip,
    errorResponseBuilder: (_req, ctx) => new ApiError('rate_limited', `more than ${ctx.max} requests per second; retry after ${ctx.after}`),
  });
  registerAuth(app, deps.apiKeys);
  app.addHook('onResponse', async (req, reply) => {
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
    sourceRoutes(api, deps);
    userRoutes(api, deps);
    filterRoutes(api, deps);
    retargetingRoutes(api, deps);
    // The web console (outside /v1: no key, no rate limit; it calls /v1 with the operator's key).
    consoleRoutes(api);
  });
  return app;
}
