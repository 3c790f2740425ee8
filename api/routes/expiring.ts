import type { FastifyInstance } from 'fastify';
import { addDuration, MAX_WITHIN, parseDuration, sourceName, type ExpiringCursor, type SourceRecord } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { answer, cursorAnswer, pageLimit, timeString } from '../schemas.js';

const MAX_WITHIN_MS = addDuration(0, parseDuration(MAX_WITHIN)!);

const cursorOf = (c: ExpiringCursor) => encodeCursor(JSON.stringify([c.expiresAt, c.source]));

function fromCursor(c: string): ExpiringCursor {
  try {
    const [expiresAt, source] = JSON.parse(decodeCursor(c)) as unknown[];
    if (typeof expiresAt === 'number' && Number.isFinite(expiresAt) && typeof source === 'string') return { expiresAt, source };
  } catch { /* reported below */ }
  throw new ApiError('invalid_request', 'cursor: not a cursor this listing returned');
}

/** GET /v1/expiring: what the expiry scan will demote soon (the registry's mirror, no store call). */
export function expiringRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get<{ Querystring: { within?: string; limit?: number; cursor?: string } }>(
    '/v1/expiring',
    {
      config: { scope: 'lookup' },
      schema: {
        operationId: 'listExpiring',
        summary: 'Hot sources that will expire by now + within (default P7D), soonest first',
        tags: ['expiry'],
        response: {
          200: answer('a page of sources about to expire', {
            type: 'object',
            required: ['items', 'cursor'],
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['source', 'expiresAt', 'stoppedAt', 'tags'],
                  properties: {
                    source: { type: 'string', description: 'campaign:<id> or canvas:<id>' },
                    expiresAt: timeString,
                    stoppedAt: { type: ['string', 'null'], format: 'date-time' },
                    tags: { type: 'array', items: { type: 'string' } },
                  },
                },
              },
              cursor: cursorAnswer,
            },
          }),
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            within: { type: 'string', maxLength: 64, default: 'P7D' },
            limit: pageLimit,
            cursor: { type: 'string', maxLength: 400, pattern: '^[A-Za-z0-9_-]*$' },
          },
        },
      },
    },
    async (req) => {
      const { within = 'P7D', limit = 100, cursor } = req.query;
      const d = parseDuration(within);
      if (!d) throw new ApiError('invalid_request', `within: "${within}" is not an ISO-8601 duration such as P7D`);
      if (!(addDuration(0, d) <= MAX_WITHIN_MS)) throw new ApiError('invalid_request', `within: must be at most ${MAX_WITHIN}`);
      // From the registry's expiry index: limit + 1 records read, whatever the number of sources.
      const all: SourceRecord[] = [];
      for (const r of deps.registry.expiring(addDuration(Date.now(), d), cursor ? fromCursor(cursor) : undefined)) if (all.push(r) > limit) break;
      const page = all.slice(0, limit);
      const items = page.map((r) => ({
        source: sourceName(r),
        expiresAt: new Date(r.expiresAt!).toISOString(),
        stoppedAt: r.stoppedAt === null ? null : new Date(r.stoppedAt).toISOString(),
        tags: r.tags,
      }));
      const last = page[page.length - 1];
      return { items, cursor: all.length > limit && last ? cursorOf({ expiresAt: last.expiresAt!, source: sourceName(last) }) : null };
    },
  );
}
