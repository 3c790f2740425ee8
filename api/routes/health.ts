import type { FastifyInstance } from 'fastify';
import { REBUILDING } from '../../core/index.js';
import type { AppDeps } from '../app.js';

/** /healthz, /readyz, /metrics: no auth, no /v1 prefix. */
export function healthRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const checks = await deps.readiness();
    const rebuilding = checks.hot_tier === REBUILDING;
    const wrong = Object.entries(checks).filter(([, v]) => v !== null);
    const shown = Object.fromEntries(Object.entries(checks).map(([k, v]) => [k, v ?? 'ok']));
    if (wrong.length === 0) return { status: 'ready', checks: shown };
    return reply.status(503).send({
      error: rebuilding ? 'hot_tier_rebuilding' : 'not_ready',
      message: wrong.map(([k, v]) => `${k}: ${v}`).join('; '),
      checks: shown,
    });
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metricsText ? deps.metricsText() : deps.metrics.registry.metrics();
  });
}
