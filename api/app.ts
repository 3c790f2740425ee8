import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../engine/metrics.js';
import { formatTime } from '../engine/time.js';
import { parseIndexName } from '../engine/index-names.js';
import { ID_PATTERN, USER_ID_PATTERN } from '../engine/validate.js';
import type { History, HotIndex, SourceKind, SourceRef, SourceRegistry } from '../engine/types.js';
import { ApiError } from './errors.js';
import { sourceState } from './state.js';

/** What the API needs; each piece is an interface so tests can hand in their own. */
export interface AppDeps {
  registry: SourceRegistry;
  hot: HotIndex;
  history: History;
  metrics: Metrics;
  /** Named checks for /readyz: each resolves to null when healthy, or what is wrong. */
  readiness: () => Promise<Record<string, string | null>>;
  logger?: Logger | false;
}

/** Most sources one user-interactions lookup may name. */
export const MAX_LOOKUP_SOURCES = 50;

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;

const idParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: ID_PATTERN } },
} as const;

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

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const checks = await deps.readiness();
    const wrong = Object.entries(checks).filter(([, v]) => v !== null);
    if (wrong.length === 0) return { status: 'ready', checks: Object.fromEntries(Object.keys(checks).map((k) => [k, 'ok'])) };
    return reply.status(503).send({
      error: 'not_ready',
      message: wrong.map(([k, v]) => `${k}: ${v}`).join('; '),
      checks: Object.fromEntries(Object.entries(checks).map(([k, v]) => [k, v ?? 'ok'])),
    });
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  for (const [kind, plural] of [['campaign', 'campaigns'], ['canvas', 'canvases']] as const) {
    app.get<{ Params: { id: string } }>(
      `/v1/${plural}/:id`,
      { schema: { params: idParams, response: { 404: errorSchema } } },
      async (req) => {
        const source: SourceRef = { kind, id: req.params.id };
        const rec = await deps.registry.get(source);
        if (!rec) throw new ApiError('source_not_found', `${kind} ${source.id} is not known`);
        const [hot, history] = await Promise.all([
          rec.tier === 'hot' ? deps.hot.countUsers(source) : null,
          deps.history.countEvents(source),
        ]);
        return sourceState(rec, { hot, history });
      },
    );
  }

  app.get<{ Params: { userId: string }; Querystring: { sources: string; from?: 'history' } }>(
    '/v1/users/:userId/interactions',
    {
      schema: {
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['userId'],
          properties: { userId: { type: 'string', pattern: USER_ID_PATTERN } },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['sources'],
          properties: { sources: { type: 'string', minLength: 1, maxLength: 8_000 }, from: { type: 'string', enum: ['history'] } },
        },
      },
    },
    async (req) => {
      const { userId } = req.params;
      const sources = parseSources(req.query.sources);
      const fromHistory = req.query.from === 'history';
      const out = await Promise.all(
        sources.map(async (source) => {
          const rec = await deps.registry.get(source);
          const tier = rec?.tier ?? null;
          const name = `${source.kind}:${source.id}`;
          if (fromHistory) return { source: name, tier, ...interactionsShape(await deps.history.userLatest(source, userId)) };
          if (tier !== 'hot') return { source: name, tier };
          return { source: name, tier, ...interactionsShape(await deps.hot.userLatest(source, userId)) };
        }),
      );
      return fromHistory ? { userId, sources: out, servedFrom: 'history' } : { userId, sources: out };
    },
  );

  return app;
}

/** `campaign:A,canvas:C` -> source refs; a clear 400 for anything else. */
export function parseSources(list: string): SourceRef[] {
  const idRe = new RegExp(ID_PATTERN);
  const seen = new Set<string>();
  const out: SourceRef[] = [];
  for (const part of list.split(',')) {
    const colon = part.indexOf(':');
    const kind = part.slice(0, colon) as SourceKind;
    const id = part.slice(colon + 1);
    if (colon < 0 || (kind !== 'campaign' && kind !== 'canvas') || !idRe.test(id)) {
      throw new ApiError('invalid_request', `sources: "${part.slice(0, 140)}" is not campaign:<id> or canvas:<id>`);
    }
    if (!seen.has(part)) out.push({ kind, id });
    seen.add(part);
  }
  if (out.length > MAX_LOOKUP_SOURCES) throw new ApiError('invalid_request', `sources: at most ${MAX_LOOKUP_SOURCES}`);
  return out;
}

/** index name -> time, as the contract's `latest`, `variants` and `steps` objects. */
function interactionsShape(latest: Map<string, number>) {
  const shape = { latest: {} as Record<string, string>, variants: {} as Record<string, Record<string, string>>, steps: {} as Record<string, Record<string, string>> };
  for (const [name, t] of latest) {
    const p = parseIndexName(name);
    if (p.kind === 'type') shape.latest[p.type] = formatTime(t);
    else if (p.kind === 'variant') (shape.variants[p.id] ??= {})[p.type] = formatTime(t);
    else if (p.kind === 'step') (shape.steps[p.id] ??= {})[p.type] = formatTime(t);
  }
  return shape;
}
