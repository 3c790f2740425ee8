import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { registerAuth, type ApiKey } from './auth.js';
import type { Logger } from 'pino';
import type { Metrics } from '../engine/metrics.js';
import type { History, HotIndex, SourceRegistry } from '../engine/types.js';
import type { FilterService, TierManager } from '../engine/tiers/index.js';
import type { Lookup } from '../engine/lookup/index.js';
import { ApiError } from './errors.js';
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

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ApiError) {
      return reply.status(err.status).send({ error: err.code, message: err.message, ...err.extra });
    }
    const e = err as { validation?: unknown; statusCode?: number; code?: string; message: string };
    if (e.validation) return reply.status(400).send({ error: 'invalid_request', message: e.message });
    if (e.statusCode === 413) return reply.status(413).send({ error: 'payload_too_large', message: e.message });
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.status(400).send({ error: 'invalid_request', message: e.message });
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
