import type { FastifyInstance } from 'fastify';
import { filterSources, hasCountLeaves, parseFilter, SourceNotFoundError, unknownSources, type Filter } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { answer, cursorAnswer, explainNode, filterSchema, idParams, plainJson, servedFrom, userIdString } from '../schemas.js';

export const MAX_CHECK_USERS = 1_000;
export const MAX_AUDIENCE_PAGE = 10_000;

const fromProp = { from: { type: 'string', enum: ['history', 'hot'] } } as const;
const fromQuery = { type: 'object', additionalProperties: false, properties: fromProp } as const;

/** Shown in the OpenAPI document (/docs): the semantics a caller cannot guess. */
const SEMANTICS =
  'A leaf matches a user whose latest event of that kind (source, type, variant or step) has a time t with after <= t < before; ' +
  '"within": D means after = now - D. A filter\'s universe is every user with any event of the sources it names: a "not" matches ' +
  'only users of that universe, so a lone "not" under count or audience means "users known for those sources, minus ...". ' +
  'A named source that is expired answers 409 source_expired, one being restored 503 source_restoring, unless "from": "history"; ' +
  'a source named by id that does not exist answers 404 source_not_found (a tag no source carries stands for no source).';

/** The filter of the lookups' example bodies in the document (Swagger's "Try it out" starts from them). */
const FILTER_EXAMPLE = { and: [{ campaign: 'spring-sale', event: 'open', within: 'P30D' }, { not: { campaign: 'spring-sale', event: 'click' } }] };

type From = 'history' | 'hot';
type Body = { from?: From; [k: string]: unknown };

/** The three lookups' bodies beside the filter (inline routes add `filter`, registered ones name it in the path). */
const BODIES = {
  check: { required: ['userIds'], example: { userIds: ['u1', 'u2'] }, properties: { userIds: { type: 'array', maxItems: MAX_CHECK_USERS, items: userIdString } } },
  audience: {
    required: [],
    example: { limit: 100 },
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: MAX_AUDIENCE_PAGE, default: 1_000 },
      cursor: { type: 'string', maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' },
    },
  },
  count: {
    required: [],
    example: {},
    properties: {
      estimate: { type: 'boolean', default: false, description: 'answer from a sample of the hot index, with a 95% margin, in a few milliseconds at any size' },
    },
  },
} as const;

/** The three lookups' answers. */
const ANSWERS = {
  check: answer('the users of userIds that match, in the order given', {
    type: 'object', required: ['matched', 'servedFrom'], properties: { matched: { type: 'array', items: { type: 'string' } }, servedFrom },
  }),
  audience: answer('a page of matching users: hot in position order (a hash of the user id), history in user id order', {
    type: 'object', required: ['users', 'cursor', 'servedFrom'], properties: { users: { type: 'array', items: { type: 'string' } }, cursor: cursorAnswer, servedFrom },
  }),
  count: answer('how many users match (with "estimate": true, an estimate and its margin)', {
    type: 'object',
    required: ['count', 'servedFrom'],
    properties: {
      count: { type: 'integer' },
      estimate: { type: 'boolean', description: 'present and true when the count is an estimate from a sample' },
      margin: { type: 'integer', description: 'half-width of the estimate\'s 95% interval (0: exact)' },
      servedFrom,
    },
  }),
} as const;

/** The answer of POST /v1/retargeting/explain. */
const EXPLAIN_ANSWER = answer('the explained tree', {
  type: 'object',
  required: ['userId', 'matched', 'inUniverse', 'servedFrom', 'tree'],
  properties: {
    userId: { type: 'string' },
    matched: { type: 'boolean', description: 'what check answers: inUniverse and tree.matched' },
    inUniverse: { type: 'boolean', description: 'whether the user has any event of the sources the filter names (what a "not" ranges over)' },
    servedFrom: { ...servedFrom, description: 'where latest times were read (count leaves: always history, see each leaf)' },
    tree: explainNode,
  },
});

/**
 * How each lookup's answer is serialized. fast-json-stringify (the response schemas) is faster
 * for small objects (a count: 0.04 against 0.27 us) but slower for long arrays of strings, which
 * it escapes one by one: an audience page of 10,000 user ids took 563 us against 411 us with
 * JSON.stringify, so check and audience keep JSON.stringify; their schemas still document them
 * (test/integration/answers.ts checks every answer of the integration suite against them).
 */
const SERIALIZER = { check: { serializerCompiler: plainJson }, audience: { serializerCompiler: plainJson }, count: {} } as const;

const OP_NAMES = { check: 'Check', audience: 'Audience', count: 'Count' } as const;

const SUMMARIES = {
  check: 'Which of these users (at most 1,000) match the filter?',
  audience: 'A page of the users matching the filter (hot: in position order, a hash of the id; history: in user id order)',
  count: 'How many users match the filter',
} as const;

/**
 * Retargeting lookups, with the filter in the body (`/v1/retargeting/*`, parsed per call) or
 * registered (`/v1/filters/:id/*`, parsed once per version: what a sender calls at send
 * time). From the hot tier unless `"from": "history"` (body) or `from=history` (query);
 * every answer says where it was served from.
 */
export function retargetingRoutes(app: FastifyInstance, deps: AppDeps): void {
  const fromHistory = (body: Body, query: { from?: string }) => (body.from ?? query.from) === 'history';
  const served = (h: boolean) => ({ servedFrom: h ? 'history' : 'hot' });

  const lookups = {
    async check(f: Filter, body: Body, h: boolean) {
      return { matched: await deps.lookup.check(f, body.userIds as string[], h), ...served(h) };
    },
    // A filter with count leaves is counted and listed from history (a walk would read every user's marks): see docs/filters.md, "Count leaves".
    async audience(f: Filter, body: Body, h: boolean) {
      h ||= hasCountLeaves(f);
      const cursor = body.cursor as string | undefined;
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const { users, next } = await deps.lookup.audience(f, (body.limit as number | undefined) ?? 1_000, after, h);
      return { users, cursor: next === null ? null : encodeCursor(next), ...served(h) };
    },
    async count(f: Filter, body: Body, h: boolean) {
      h ||= hasCountLeaves(f);
      if (body.estimate === true) return { ...(await deps.lookup.estimate(f, h)), estimate: true, ...served(h) };
      return { count: await deps.lookup.count(f, h), ...served(h) };
    },
  };

  /**
   * Each lookup, refusing a filter that names (by id) a source the registry does not know:
   * 404 `source_not_found` with them, rather than an answer silently empty (or, inside a
   * `not`, every user of the other sources). Tag leaves stand for sources that exist.
   */
  const answer = Object.fromEntries(
    Object.entries(lookups).map(([op, run]) => [op, async (f: Filter, body: Body, h: boolean) => {
      const unknown = await unknownSources(deps.registry, filterSources(f));
      if (unknown.length) throw new SourceNotFoundError(unknown);
      return run(f, body, h);
    }]),
  ) as typeof lookups;

  app.post<{ Querystring: { from?: From }; Body: { filter?: unknown; filterId?: string; userId: string; from?: From } }>(
    '/v1/retargeting/explain',
    {
      config: { scope: 'lookup', errors: ['invalid_request', 'invalid_filter', 'filter_not_found', 'source_not_found', 'source_expired', 'source_restoring'] },
      serializerCompiler: plainJson,
      schema: {
        operationId: 'retargetingExplain',
        summary: 'Why one user matches a filter, or not: the tree with each node matched, each leaf\'s time or count, window and where it was served from',
        description: `Exactly one of "filter" (inline) and "filterId" (a registered filter). "matched" is what check answers for the user: "inUniverse" ` +
          'and the tree\'s own "matched". Refused as check is: 404 source_not_found, 409 source_expired, 503 source_restoring, unless "from": "history". ' +
          `Count leaves are always served from history. ${SEMANTICS}`,
        tags: ['retargeting'],
        querystring: fromQuery,
        body: {
          type: 'object', additionalProperties: false, required: ['userId'],
          properties: { filter: filterSchema, filterId: { type: 'string', minLength: 1, maxLength: 128 }, userId: userIdString, ...fromProp },
        },
        response: {
          200: EXPLAIN_ANSWER,
        },
      },
    },
    async (req) => {
      const { filter, filterId, userId } = req.body;
      if ((filter === undefined) === (filterId === undefined)) throw new ApiError('invalid_request', 'give exactly one of "filter" and "filterId"');
      let f: Filter | undefined;
      if (filterId !== undefined) {
        f = await deps.filters.registered(filterId);
        if (!f) throw new ApiError('filter_not_found', `filter ${filterId} is not registered`);
      } else f = parseFilter(filter);
      const unknown = await unknownSources(deps.registry, filterSources(f));
      if (unknown.length) throw new SourceNotFoundError(unknown);
      const h = fromHistory(req.body, req.query);
      return { userId, ...(await deps.lookup.explain(f, userId, h)), ...served(h) };
    },
  );

  /** Each lookup's two routes, their paths written out (so `grep -r retargeting/check api/` finds them). */
  const PATHS = {
    check: { inBody: '/v1/retargeting/check', registered: '/v1/filters/:id/check' },
    audience: { inBody: '/v1/retargeting/audience', registered: '/v1/filters/:id/audience' },
    count: { inBody: '/v1/retargeting/count', registered: '/v1/filters/:id/count' },
  } as const;
  for (const op of ['check', 'audience', 'count'] as const) {
    const spec = BODIES[op];
    app.post<{ Querystring: { from?: From }; Body: Body & { filter: unknown } }>(
      PATHS[op].inBody,
      {
        config: { scope: 'lookup', errors: ['invalid_filter', 'invalid_cursor', 'source_not_found', 'source_expired', 'source_restoring', 'lookup_timeout'] },
        ...SERIALIZER[op],
        schema: {
          operationId: `retargeting${OP_NAMES[op]}`,
          summary: SUMMARIES[op],
          tags: ['retargeting'],
          response: { 200: ANSWERS[op] },
          description: op === 'audience' ? `${SEMANTICS} Pages of one walk never repeat a user and never skip one that matches throughout the walk.` : SEMANTICS,
          querystring: fromQuery,
          body: {
            type: 'object', additionalProperties: false, required: ['filter', ...spec.required], properties: { filter: filterSchema, ...spec.properties, ...fromProp },
            // Swagger's "Try it out" body: valid as it is (Redocly checks examples against the schema).
            examples: [{ filter: FILTER_EXAMPLE, ...spec.example }],
          },
        },
      },
      // parseFilter throws FilterError (400 invalid_filter with the path) for a bad filter.
      async (req) => answer[op](parseFilter(req.body.filter), req.body, fromHistory(req.body, req.query)),
    );

    app.post<{ Params: { id: string }; Querystring: { from?: From }; Body: Body }>(
      PATHS[op].registered,
      {
        config: { scope: 'lookup', errors: ['filter_not_found', 'invalid_cursor', 'source_not_found', 'source_expired', 'source_restoring', 'lookup_timeout'] },
        ...SERIALIZER[op],
        // A count or audience of a registered filter may come without a body: it is `{}`.
        preValidation: async (req) => {
          req.body ??= {};
        },
        schema: {
          operationId: `filter${OP_NAMES[op]}`,
          summary: `${SUMMARIES[op]} (a registered filter)`,
          tags: ['retargeting'],
          response: { 200: ANSWERS[op] },
          description: `The same answer as POST ${PATHS[op].inBody} with the filter registered under this id (PUT /v1/filters/:id), parsed once, not per call. 404 filter_not_found. ${SEMANTICS}`,
          params: idParams,
          querystring: fromQuery,
          body: { type: 'object', additionalProperties: false, required: [...spec.required], properties: { ...spec.properties, ...fromProp }, examples: [spec.example] },
        },
      },
      async (req) => {
        const f = await deps.filters.registered(req.params.id);
        if (!f) throw new ApiError('filter_not_found', `filter ${req.params.id} is not registered`);
        return answer[op](f, req.body, fromHistory(req.body, req.query));
      },
    );
  }
}
