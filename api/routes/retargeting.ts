import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../app.js';
import { userIdString } from '../schemas.js';

export const MAX_CHECK_USERS = 1_000;
export const MAX_AUDIENCE_PAGE = 10_000;

const fromProp = { from: { type: 'string', enum: ['history', 'hot'] } } as const;
const fromQuery = { type: 'object', additionalProperties: false, properties: fromProp } as const;

/** Shown in the OpenAPI document (/docs): the semantics a caller cannot guess. */
const SEMANTICS =
  'A leaf matches a user whose latest event of that kind (source, type, variant or step) has a time t with after <= t < before; ' +
  '"within": D means after = now - D. A filter\'s universe is every user with any event of the sources it names: a "not" matches ' +
  'only users of that universe, so a lone "not" under count or audience means "users known for those sources, minus ...". ' +
  'A named source that is expired answers 409 source_expired, one being restored 503 source_restoring, unless "from": "history".';

const cursorOf = (user: string) => Buffer.from(user, 'utf8').toString('base64url');

/**
 * Retargeting lookups. From the hot tier unless `"from": "history"` (body) or `from=history`
 * (query); every answer says where it was served from.
 */
export function retargetingRoutes(app: FastifyInstance, deps: AppDeps): void {
  type Q = { Querystring: { from?: 'history' | 'hot' } };
  const fromHistory = (body: { from?: string }, query: { from?: string }) => (body.from ?? query.from) === 'history';
  const served = (h: boolean) => ({ servedFrom: h ? 'history' : 'hot' });

  app.post<Q & { Body: { filter: unknown; userIds: string[]; from?: 'history' | 'hot' } }>(
    '/v1/retargeting/check',
    {
      config: { scope: 'lookup' },
      schema: {
        summary: 'Which of these users (at most 1,000) match the filter?',
        description: SEMANTICS,
        querystring: fromQuery,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['filter', 'userIds'],
          properties: { filter: {}, userIds: { type: 'array', maxItems: MAX_CHECK_USERS, items: userIdString }, ...fromProp },
        },
      },
    },
    async (req) => {
      const h = fromHistory(req.body, req.query);
      const matched = await deps.lookup.check(req.body.filter, req.body.userIds, h);
      return { matched, ...served(h) };
    },
  );

  app.post<Q & { Body: { filter: unknown; limit?: number; cursor?: string; from?: 'history' | 'hot' } }>(
    '/v1/retargeting/audience',
    {
      config: { scope: 'lookup' },
      schema: {
        summary: 'A page of the users matching the filter, in user id order',
        description: `${SEMANTICS} Pages of one walk never repeat a user and never skip one that matches throughout the walk.`,
        querystring: fromQuery,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['filter'],
          properties: {
            filter: {},
            limit: { type: 'integer', minimum: 1, maximum: MAX_AUDIENCE_PAGE, default: 1_000 },
            cursor: { type: 'string', maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' },
            ...fromProp,
          },
        },
      },
    },
    async (req) => {
      const h = fromHistory(req.body, req.query);
      const after = req.body.cursor === undefined ? undefined : Buffer.from(req.body.cursor, 'base64url').toString('utf8');
      const { users, next } = await deps.lookup.audience(req.body.filter, req.body.limit ?? 1_000, after, h);
      return { users, cursor: next === null ? null : cursorOf(next), ...served(h) };
    },
  );

  app.post<Q & { Body: { filter: unknown; from?: 'history' | 'hot' } }>(
    '/v1/retargeting/count',
    {
      config: { scope: 'lookup' },
      schema: {
        summary: 'How many users match the filter',
        description: SEMANTICS,
        querystring: fromQuery,
        body: { type: 'object', additionalProperties: false, required: ['filter'], properties: { filter: {}, ...fromProp } },
      },
    },
    async (req) => {
      const h = fromHistory(req.body, req.query);
      const count = await deps.lookup.count(req.body.filter, h);
      return { count, ...served(h) };
    },
  );
}
