import type { FastifyInstance } from 'fastify';
import { formatTime, recordOf, parseIndexName, parseSourceName, type Filter, type SourceRef } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { answer, nullableTier, servedFrom, timeString, userIdString } from '../schemas.js';

/** Most sources one user-interactions lookup may name. */
export const MAX_LOOKUP_SOURCES = 50;

/** `campaign:A,canvas:C` -> source refs (deduplicated); a clear 400 for anything else. */
export function parseSources(list: string, max = MAX_LOOKUP_SOURCES): SourceRef[] {
  const seen = new Set<string>();
  const out: SourceRef[] = [];
  for (const part of list.split(',')) {
    const ref = parseSourceName(part);
    if (!ref) {
      throw new ApiError('invalid_request', `sources: "${part.slice(0, 140)}" is not campaign:<id> or canvas:<id>`);
    }
    if (!seen.has(part)) out.push(ref);
    seen.add(part);
  }
  if (out.length > max) throw new ApiError('invalid_request', `sources: at most ${max}`);
  return out;
}

/** index name -> time, as the API's `latest`, `variants` and `steps` objects. */
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

/** event type -> latest time, only the types the user has. */
const latestByType = { type: 'object', additionalProperties: timeString, description: 'event type -> the time of the latest such event; only the types the user has' } as const;
const byId = (what: string) => ({ type: 'object', additionalProperties: latestByType, description: `${what} id -> event type -> latest time` }) as const;

const interactionsAnswer = {
  type: 'object',
  required: ['userId', 'sources'],
  properties: {
    userId: { type: 'string' },
    sources: {
      type: 'array',
      items: {
        type: 'object',
        required: ['source', 'tier'],
        description: 'a source that is not hot has its tier and no latest, variants or steps, unless from=history',
        properties: {
          source: { type: 'string', description: 'campaign:<id> or canvas:<id>' },
          tier: { ...nullableTier, description: 'null for a source that is not known' },
          latest: latestByType,
          variants: byId('variant'),
          steps: byId('step'),
        },
      },
    },
    servedFrom: { ...servedFrom, description: 'present, "history", with from=history' },
  },
} as const;

/** A user's latest interactions per source: hot from Redis, or from history on request. */
export function userRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get<{ Params: { userId: string }; Querystring: { sources: string; from?: 'history' } }>(
    '/v1/users/:userId/interactions',
    {
      config: { scope: 'lookup' },
      schema: {
        operationId: 'getUserInteractions',
        summary: "A user's latest time of each event type per named source",
        description: 'sources=campaign:A,canvas:C (at most 50). Never 409 for an expired source: each source carries its tier, and a source that is not hot has no latest unless from=history.',
        tags: ['users'],
        response: { 200: answer("the user's interactions, per source in the order named", interactionsAnswer) },
        params: { type: 'object', additionalProperties: false, required: ['userId'], properties: { userId: userIdString } },
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
      const fromHistory = req.query.from === 'history';
      const out = await Promise.all(
        parseSources(req.query.sources).map(async (source) => {
          // The mirror, not a round trip: this is a send-time lookup.
          const tier = (await recordOf(deps.registry, source))?.tier ?? null;
          const name = `${source.kind}:${source.id}`;
          if (fromHistory) return { source: name, tier, ...interactionsShape(await deps.history.userLatest(source, userId)) };
          if (tier !== 'hot') return { source: name, tier };
          return { source: name, tier, ...interactionsShape(await deps.hot.userLatest(source, userId)) };
        }),
      );
      return fromHistory ? { userId, sources: out, servedFrom: 'history' } : { userId, sources: out };
    },
  );

  app.get<{ Params: { userId: string } }>(
    '/v1/users/:userId/filters',
    {
      config: { scope: 'lookup' },
      schema: {
        operationId: 'getUserFilters',
        summary: 'The registered filters the user matches now',
        description: 'Every registered filter evaluated for the user from the hot tier, together: one Redis round trip and, when filters have count leaves, one ClickHouse query. ' +
          'A filter naming a source that is not hot (expired, demoting, restoring) is not evaluated: it is listed in "skipped" with the reason, and explain with "from": "history" answers it.',
        tags: ['users'],
        params: { type: 'object', additionalProperties: false, required: ['userId'], properties: { userId: userIdString } },
        response: {
          200: answer('the ids of the filters matched, in id order, and those skipped', {
            type: 'object',
            required: ['userId', 'matched', 'skipped', 'servedFrom'],
            properties: {
              userId: { type: 'string' },
              matched: { type: 'array', items: { type: 'string' } },
              skipped: {
                type: 'array',
                items: {
                  type: 'object', required: ['id', 'reason', 'sources'],
                  properties: {
                    id: { type: 'string' },
                    reason: { type: 'string', enum: ['source_expired', 'source_restoring', 'invalid_filter'], description: 'invalid_filter: a count leaf\'s "after" left the 730-day horizon' },
                    sources: { type: 'array', items: { type: 'string' } },
                  },
                },
              },
              servedFrom: { ...servedFrom, description: 'always "hot" (count leaves from history)' },
            },
          }),
        },
      },
    },
    async (req) => {
      const { userId } = req.params;
      const docs = deps.filters.list();
      const parsed = await Promise.all(docs.map(async (d) => ({ id: d.id, filter: await deps.filters.registered(d.id) })));
      const filters = parsed.filter((p): p is { id: string; filter: Filter } => p.filter !== undefined);
      return { userId, ...(await deps.lookup.userFilters(filters, userId)), servedFrom: 'hot' };
    },
  );
}
