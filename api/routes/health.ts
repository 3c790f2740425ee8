import type { FastifyInstance } from 'fastify';
import { cachedGathering, REBUILDING } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { answer, errorAnswers } from '../schemas.js';

/** /healthz, /readyz, /metrics (unless `metricsRoute` is false): no auth, no /v1 prefix. */
export function healthRoutes(app: FastifyInstance, deps: AppDeps): void {
  // At most one gathering a second (core's cachedGathering): each costs about 30 ms of CPU.
  const metricsText = cachedGathering(deps.metricsText ?? (() => deps.metrics.text()));

  app.get('/healthz', {
    schema: {
      operationId: 'health',
      summary: 'Liveness: 200 while the process lives',
      tags: ['health'],
      security: [],
      response: { 200: answer('alive', { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } }) },
    },
  }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    schema: {
      operationId: 'ready',
      summary: 'Readiness: NATS, Redis and ClickHouse answer, the hot tier is not rebuilding, and the events backlog is under its threshold',
      tags: ['health'],
      security: [],
      response: {
        200: answer('ready', {
          type: 'object',
          required: ['status', 'checks'],
          properties: { status: { type: 'string', enum: ['ready'] }, checks: { type: 'object', additionalProperties: { type: 'string' }, description: 'each check: "ok"' } },
        }),
        // Both codes are 503s (typed so, for reply.status(503) below).
        ...(errorAnswers(['not_ready', 'hot_tier_rebuilding']) as Record<503, object>),
      },
    },
  }, async (_req, reply) => {
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

  if (deps.metricsRoute === false) return;
  app.get('/metrics', {
    schema: {
      operationId: 'metrics',
      summary: 'Prometheus metrics of every process',
      tags: ['health'],
      security: [],
      produces: ['text/plain'],
      response: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
  }, async (_req, reply) => {
    reply.type(deps.metrics.contentType);
    return metricsText();
  });
}
