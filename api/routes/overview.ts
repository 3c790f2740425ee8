import type { FastifyInstance } from 'fastify';
import { TIERS, addDuration, formatTime, largestFirst, withDeadline, parseDuration, parseSourceName, sourceName, type HotIndex, type SourceRef, type SourceRegistry, type Tier } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { answer, nullableTime, sourceKind, tier, timeString } from '../schemas.js';

/** Hot sources whose memory is measured, the largest by users first; the rest are estimated from them. */
export const MAX_MEASURED = 1_000;
/** How long one measurement of the hot tier's memory is reused (the console refreshes every 5 s). */
export const MEMORY_TTL_MS = 10_000;
/**
 * A measurement is reused at least this many times as long as it took: with a million hot
 * sources (one ZCARD each) Redis spends at most a twentieth of its time measuring.
 */
export const MEMORY_TTL_FACTOR = 20;
/** Mirrored records read between two turns of the event loop while the hot sources are gathered. */
const GATHER_SLICE = 20_000;
/**
 * Longest the overview waits for a measurement of the hot tier before it answers without it
 * (naming Redis in `unavailable`): the rest comes from the registry and should not wait on Redis.
 */
export const HOT_WAIT_MS = 2_000;
/** The expiry windows the overview counts (GET /v1/expiring lists them). */
const WINDOWS = ['P7D', 'P30D'] as const;

interface HotSize {
  source: string;
  users: number;
  memoryBytes: number;
}

interface HotMeasure {
  at: number;
  /** How long it took, ms. */
  tookMs: number;
  sources: number;
  users: number;
  memoryBytes: number;
  measuredSources: number;
  /** Measured sources, largest memory first. */
  largest: HotSize[];
}

/**
 * The hot tier's size: users of every hot source (ZCARD), the Redis memory of the MAX_MEASURED
 * largest by users (MEMORY USAGE with samples), and for the others their users times the
 * measured bytes per user. All of it in bounded pipelines (see storage/redis/sizes.ts).
 */
async function measureHot(hot: HotIndex, registry: SourceRegistry): Promise<HotMeasure> {
  const at = Date.now();
  const t0 = performance.now();
  const refs = await hotSources(registry);
  const users = await hot.countUsersBySource(refs);
  const sized = refs.map((r) => ({ ref: r, source: sourceName(r), users: users.get(sourceName(r)) ?? 0 }));
  const measured = largestFirst(sized, MAX_MEASURED);
  const memory = await hot.memoryBySource(measured.map((m) => m.ref));
  const largest = measured
    .map((m) => ({ source: m.source, users: m.users, memoryBytes: memory.get(m.source) ?? 0 }))
    .sort((a, b) => b.memoryBytes - a.memoryBytes || (a.source < b.source ? -1 : 1));
  const measuredBytes = largest.reduce((n, s) => n + s.memoryBytes, 0);
  const measuredUsers = largest.reduce((n, s) => n + s.users, 0);
  const totalUsers = sized.reduce((n, s) => n + s.users, 0);
  const rest = totalUsers - measuredUsers;
  const estimate = rest > 0 && measuredUsers > 0 ? Math.round((rest * measuredBytes) / measuredUsers) : 0;
  const tookMs = performance.now() - t0;
  return { at, tookMs, sources: refs.length, users: totalUsers, memoryBytes: measuredBytes + estimate, measuredSources: largest.length, largest };
}

/** The hot sources in source-name order, GATHER_SLICE at a time with a turn of the event loop between: no long block. */
async function hotSources(registry: SourceRegistry): Promise<SourceRef[]> {
  const out: SourceRef[] = [];
  let after: SourceRef | undefined;
  for (;;) {
    let n = 0;
    for (const r of registry.inOrder(after)) {
      after = r;
      if (r.tier === 'hot') out.push({ kind: r.kind, id: r.id });
      if (++n === GATHER_SLICE) break;
    }
    if (n < GATHER_SLICE) return out;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const countsSchema = {
  type: 'object',
  required: TIERS,
  properties: Object.fromEntries(TIERS.map((t) => [t, { type: 'integer' }])) as Record<Tier, { type: 'integer' }>,
} as const;

const overviewSchema = {
  type: 'object',
  required: ['sources', 'hot', 'restoring', 'expiring', 'transitions', 'retention', 'unavailable'],
  properties: {
    retention: {
      type: 'object',
      required: ['expireAfter'],
      description: 'the configured tier retention',
      properties: {
        expireAfter: {
          type: ['string', 'null'],
          description: 'TIER_EXPIRE_AFTER, ISO-8601: how long a stopped source that no filter pins stays hot; null when this process was not told',
        },
      },
    },
    unavailable: {
      type: 'array',
      description: 'stores that did not answer: the parts of the overview they hold are left out (hot is null, or the last measurement)',
      items: {
        type: 'object',
        required: ['store', 'message'],
        properties: { store: { type: 'string', enum: ['redis'] }, message: { type: 'string' } },
      },
    },
    sources: {
      type: 'object',
      required: ['total', 'tiers', 'kinds'],
      properties: {
        total: { type: 'integer' },
        tiers: countsSchema,
        kinds: { type: 'object', required: ['campaign', 'canvas'], properties: { campaign: countsSchema, canvas: countsSchema } },
      },
    },
    hot: {
      type: ['object', 'null'],
      description: 'null while Redis does not answer and no earlier measurement is at hand (see unavailable)',
      required: ['sources', 'users', 'memoryBytes', 'measuredSources', 'measuredAt', 'top'],
      properties: {
        sources: { type: 'integer', description: 'hot sources' },
        users: { type: 'integer', description: 'sum over hot sources of their users (a user of two sources counts twice)' },
        memoryBytes: {
          type: 'integer',
          description: `Redis memory of the hot sources' keys: measured (MEMORY USAGE with samples) for the ${MAX_MEASURED} largest by users, estimated for the rest from their users and the measured bytes per user`,
        },
        measuredSources: { type: 'integer', description: 'hot sources whose memory was measured; fewer than `sources` means memoryBytes is partly estimated' },
        measuredAt: { ...timeString, description: `when the hot tier was measured (a measurement is reused for ${MEMORY_TTL_MS / 1000} s, or ${MEMORY_TTL_FACTOR} times as long as it took)` },
        top: {
          type: 'array',
          description: 'the hot sources taking the most memory, largest first',
          items: {
            type: 'object',
            required: ['source', 'kind', 'id', 'name', 'users', 'memoryBytes'],
            properties: { source: { type: 'string' }, kind: sourceKind, id: { type: 'string' }, name: { type: ['string', 'null'] }, users: { type: 'integer' }, memoryBytes: { type: 'integer' } },
          },
        },
      },
    },
    restoring: {
      type: 'array',
      description: 'sources being restored, furthest along first',
      items: {
        type: 'object',
        required: ['source', 'name', 'startedAt', 'progress', 'etaSeconds'],
        properties: {
          source: { type: 'string' },
          name: { type: ['string', 'null'] },
          startedAt: nullableTime,
          progress: { type: 'number' },
          etaSeconds: { type: ['integer', 'null'], description: 'as restore.etaSeconds of the state' },
        },
      },
    },
    expiring: {
      type: 'object',
      description: 'hot sources that GET /v1/expiring lists for these windows: how many',
      required: [...WINDOWS],
      properties: Object.fromEntries(WINDOWS.map((w) => [w, { type: 'integer' }])),
    },
    transitions: {
      type: 'array',
      description: 'the most recent tier transitions across sources, newest first',
      items: {
        type: 'object',
        required: ['source', 'name', 'tier', 'at', 'reason'],
        properties: { source: { type: 'string' }, name: { type: ['string', 'null'] }, tier, at: timeString, reason: { type: 'string' } },
      },
    },
  },
} as const;

/** GET /v1/overview: the console's landing summary, and a health view of the tiers for anyone. */
export function overviewRoutes(app: FastifyInstance, deps: AppDeps): void {
  // The last measurement is answered while the next one runs: only the first request waits for one.
  let last: HotMeasure | undefined;
  let running: Promise<HotMeasure> | undefined;
  // Why the latest measurement failed; cleared by the next one that succeeds.
  let failure: string | undefined;
  const refresh = () =>
    (running ??= measureHot(deps.hot, deps.registry)
      .then((m) => {
        failure = undefined;
        return (last = m);
      }, (err: unknown) => {
        failure = (err as Error)?.message ?? String(err);
        throw err;
      })
      .finally(() => (running = undefined)));
  const hotMeasure = async (): Promise<HotMeasure> => {
    if (!last) return refresh();
    if (Date.now() - last.at >= Math.max(MEMORY_TTL_MS, MEMORY_TTL_FACTOR * last.tookMs)) refresh().catch(() => undefined); // the next call measures again
    return last;
  };

  app.get<{ Querystring: { top?: number; transitions?: number } }>(
    '/v1/overview',
    {
      config: { scope: 'lookup' },
      schema: {
        operationId: 'getOverview',
        summary: 'Sources per tier, the hot tier\'s Redis memory and largest sources, restores running, expiring soon, recent transitions',
        description:
          'Answers what it has when Redis does not: `hot` is then the last measurement (or null) and `unavailable` names the store. ' +
          'Everything but the hot tier\'s sizes comes from the registry\'s summary, maintained as sources change (no store call, no scan). ' +
          'Sizes are read from Redis in pipelines of at most 100 short commands (ZCARD, SMEMBERS, MEMORY USAGE ... SAMPLES 5), so lookups ' +
          `are never held up behind them; a measurement is answered for ${MEMORY_TTL_MS / 1000} s or ${MEMORY_TTL_FACTOR} times as long as it took, ` +
          'whichever is longer, while the next one runs (only the first request waits for one).',
        tags: ['sources'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            top: { type: 'integer', minimum: 0, maximum: 50, default: 10, description: 'largest hot sources listed' },
            transitions: { type: 'integer', minimum: 0, maximum: 100, default: 20, description: 'recent transitions listed' },
          },
        },
        response: { 200: answer('the overview', overviewSchema) },
      },
    },
    async (req) => {
      const { top = 10, transitions = 20 } = req.query;
      const now = Date.now();
      const summary = deps.registry.summary(now, transitions);
      let hot: HotMeasure | undefined;
      try {
        hot = await withDeadline(hotMeasure(), HOT_WAIT_MS, () => new Error(`no measurement within ${HOT_WAIT_MS / 1000} s`));
      } catch (err) {
        failure ??= (err as Error)?.message ?? String(err);
        hot = last;
      }
      const iso = (ms: number | null) => (ms === null ? null : formatTime(ms));
      return {
        sources: { total: summary.total, tiers: summary.tiers, kinds: summary.kinds },
        retention: { expireAfter: deps.expireAfter ?? null },
        unavailable: failure === undefined ? [] : [{ store: 'redis', message: failure }],
        hot: hot === undefined ? null : {
          sources: hot.sources,
          users: hot.users,
          memoryBytes: hot.memoryBytes,
          measuredSources: hot.measuredSources,
          measuredAt: formatTime(hot.at),
          top: hot.largest.slice(0, top).map((s) => {
            // A registry record's name (measureHot), so always one parseSourceName accepts.
            const ref = parseSourceName(s.source)!;
            return { ...s, kind: ref.kind, id: ref.id, name: deps.registry.peek(ref)?.name ?? null };
          }),
        },
        restoring: summary.restoring.map((r) => ({ ...r, startedAt: iso(r.startedAt) })),
        expiring: Object.fromEntries(WINDOWS.map((w) => [w, deps.registry.countExpiring(addDuration(now, parseDuration(w)!))])),
        transitions: summary.transitions.map((t) => ({ ...t, at: formatTime(t.at) })),
      };
    },
  );
}
