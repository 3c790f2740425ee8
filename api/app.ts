import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
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
}

/** Builds the Fastify app without listening: the process entry point listens, tests inject. */
export function buildApp(deps: AppDeps, opts: FastifyServerOptions = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger || undefined,
    bodyLimit: 1_048_576,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
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

  healthRoutes(app, deps);
  sourceRoutes(app, deps);
  userRoutes(app, deps);
  filterRoutes(app, deps);
  retargetingRoutes(app, deps);
  return app;
}
