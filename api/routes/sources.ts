import type { FastifyInstance } from 'fastify';
import { LIMIT_DEFAULTS, LimitError, MAX_TAGS_LIMIT, type Limits, type SourceKind, type SourceRecord, type SourceRef, type Tier, parseTime } from '../../core/index.js';
import { removeSource, TierError, type Lifecycle } from '../../engine/tiers/index.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { stateOf, statesOf } from '../state.js';
import { pageOf, wholeRecords } from './listing.js';
import { answer, cursorAnswer, idParams, idString, nullableTier, pageLimit, ref, tier, timeValue } from '../schemas.js';
import { parseSources } from './users.js';

/** Each source kind's routes, their paths written out (so `grep -r /v1/campaigns/ api/` finds them). */
const KINDS = [
  { kind: 'campaign', plural: 'campaigns', paths: { list: '/v1/campaigns', one: '/v1/campaigns/:id', restore: '/v1/campaigns/:id/restore', demote: '/v1/campaigns/:id/demote' } },
  { kind: 'canvas', plural: 'canvases', paths: { list: '/v1/canvases', one: '/v1/canvases/:id', restore: '/v1/canvases/:id/restore', demote: '/v1/canvases/:id/demote' } },
] as const;

const tierAnswer = (extra: object = {}) => ({
  type: 'object',
  required: ['id', 'tier'],
  properties: { id: { type: 'string' }, tier, ...extra },
});
const capital = (s: string) => s[0]!.toUpperCase() + s.slice(1);

type LifecycleBody = { status?: 'active' | 'stopped'; stoppedAt?: string | number; name?: string | null; tags?: string[] };

/** PUT's and PATCH's body (PUT: `status` required, `name` not null). */
const lifecycleBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: ['active', 'stopped'] },
    stoppedAt: timeValue,
    name: { type: ['string', 'null'], maxLength: 256 },
    // The hard ceiling; the configured limit (TIERSTREAM_MAX_TAGS) answers too_many_tags.
    tags: { type: 'array', maxItems: MAX_TAGS_LIMIT, uniqueItems: true, items: idString },
  },
} as const;

/** The lifecycle fields of a body, read and checked (`status`: the one the source will have). */
function lifecycleOf(body: LifecycleBody, status: 'active' | 'stopped' | undefined, limits: Limits): Omit<Lifecycle, 'status'> {
  const { stoppedAt, name, tags } = body;
  let stopped: number | undefined;
  if (stoppedAt !== undefined) {
    stopped = stoppedAtOf(stoppedAt, Date.now());
    if (status !== 'stopped') throw new ApiError('invalid_request', 'body/stoppedAt is only meaningful with status "stopped"');
  }
  if (tags && tags.length > limits.tagsPerSource) throw new LimitError('tagsPerSource', limits.tagsPerSource, `${tags.length} tags`);
  return { ...(stopped !== undefined && { stoppedAt: stopped }), ...(name !== undefined && { name }), ...(tags !== undefined && { tags }) };
}

/** Source state, lifecycle, listing, restore and demotion for campaigns and canvases. */
/**
 * A body's `stoppedAt` in epoch ms; ApiError `invalid_request` when it is no time of
 * 1970-2099 or lies after `now`: a source stopped in the future would say `stopped` while it
 * still runs, and its expiry would move by as much.
 */
export function stoppedAtOf(value: string | number, now: number): number {
  const t = parseTime(value);
  if (t === undefined) throw new ApiError('invalid_request', 'body/stoppedAt must be ISO-8601 with an offset or epoch milliseconds, in the years 1970-2099');
  if (t > now) throw new ApiError('invalid_request', 'body/stoppedAt is in the future: set it when the source stops');
  return t;
}

export function sourceRoutes(app: FastifyInstance, deps: AppDeps): void {
  for (const { kind, plural, paths } of KINDS) {
    const Kind = capital(kind);
    app.get<{ Params: { id: string } }>(paths.one, {
      config: { scope: 'lookup', errors: ['source_not_found'] },
      schema: {
        operationId: `get${Kind}`,
        summary: `The state of a ${kind}: lifecycle, tier, restore progress, transitions, counts`,
        tags: ['sources'],
        params: idParams,
        response: { 200: answer(`the ${kind}'s state`, ref.sourceState) },
      },
    }, async (req) => {
      const rec = await deps.registry.get({ kind, id: req.params.id });
      if (!rec) throw new ApiError('source_not_found', `${kind} ${req.params.id} is not known`);
      return stateOf(deps, rec);
    });

    app.get<{ Querystring: { tier?: string; status?: string; tag?: string; limit?: number; cursor?: string } }>(
      paths.list,
      {
        config: { scope: 'lookup' },
        schema: {
          operationId: `list${capital(plural)}`,
          summary: `A page of ${plural} by id, filtered by tier, status or tag`,
          tags: ['sources'],
          response: {
            200: answer(`a page of ${plural}`, {
              type: 'object', required: ['items', 'cursor'], properties: { items: { type: 'array', items: ref.sourceState }, cursor: cursorAnswer },
            }),
          },
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              tier,
              status: { type: 'string', enum: ['active', 'stopped'] },
              tag: idString,
              limit: pageLimit,
              cursor: { type: 'string', maxLength: 200, pattern: '^[A-Za-z0-9_-]*$' },
            },
          },
        },
      },
      async (req) => {
        const { tier, status, tag, limit = 100, cursor } = req.query;
        const after = cursor ? decodeCursor(cursor) : undefined;
        // Ordered by id: a cursor is the last id returned, so pages stay stable as sources come and go.
        // From the registry's indexes, as GET /v1/sources pages (listing.ts pageOf).
        const found = pageOf(deps.registry, { kind, tier: tier as Tier | undefined, status: status as 'active' | 'stopped' | undefined, tag }, '', after === undefined ? undefined : { kind, id: after }, limit + 1);
        const page = found.slice(0, limit);
        const items = await statesOf(deps, await wholeRecords(deps.registry, page));
        return { items, cursor: found.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.put<{ Params: { id: string }; Body: LifecycleBody & { status: 'active' | 'stopped' } }>(
      paths.one,
      {
        config: { scope: 'admin', errors: ['too_many_sources', 'too_many_tags'] },
        schema: {
          operationId: `put${Kind}`,
          summary: `Create (declare) or update a ${kind}: status, stoppedAt, name, tags`,
          description: `Declares the ${kind} when unknown, before its first event. Setting an expired ${kind} active restores it.`,
          tags: ['sources'],
          params: idParams,
          response: { 200: answer(`the ${kind}'s state`, ref.sourceState) },
          body: { ...lifecycleBody, required: ['status'], properties: { ...lifecycleBody.properties, name: { type: 'string', maxLength: 256 } } },
        },
      },
      async (req) => {
        const source = { kind, id: req.params.id };
        const limits = deps.limits ?? LIMIT_DEFAULTS;
        const body = lifecycleOf(req.body, req.body.status, limits);
        // The mirror's count: processes declaring sources at the same moment may pass it by one each.
        if (deps.registry.peek(source) === undefined && deps.registry.size() >= limits.sources && !(await deps.registry.get(source))) {
          throw new LimitError('sources', limits.sources, `${kind}:${source.id} would be a new source`);
        }
        return stateOf(deps, await deps.tiers.setLifecycle(source, { status: req.body.status, ...body }));
      },
    );

    app.patch<{ Params: { id: string }; Body: LifecycleBody }>(
      paths.one,
      {
        config: { scope: 'admin', errors: ['source_not_found', 'too_many_tags'] },
        schema: {
          operationId: `patch${Kind}`,
          summary: `Change some of a ${kind}'s lifecycle: name, tags, status, stoppedAt`,
          description: `Absent fields are unchanged; \`"name": null\` clears the name. stoppedAt needs the ${kind} stopped (by this body or already). Setting an expired ${kind} active restores it. Never creates a ${kind}.`,
          tags: ['sources'],
          params: idParams,
          response: { 200: answer(`the ${kind}'s state`, ref.sourceState) },
          body: lifecycleBody,
        },
      },
      async (req) => {
        const source = { kind, id: req.params.id };
        let status = req.body.status;
        if (status === undefined && req.body.stoppedAt !== undefined) {
          const rec = await deps.registry.get(source);
          if (!rec) throw new ApiError('source_not_found', `${kind} ${source.id} is not known`);
          status = rec.status;
        }
        const body = lifecycleOf(req.body, status, deps.limits ?? LIMIT_DEFAULTS);
        return stateOf(deps, await deps.tiers.setLifecycle(source, { ...(req.body.status && { status: req.body.status }), ...body }, false));
      },
    );

    app.delete<{ Params: { id: string } }>(paths.one, {
      config: { scope: 'admin', errors: ['source_not_found', 'source_has_events', 'source_pinned', 'transition_in_progress'] },
      schema: {
        operationId: `delete${Kind}`,
        summary: `Delete a ${kind} that has no events (one declared by mistake)`,
        description: `A ${kind} with events in history answers 409 source_has_events, one a registered filter names 409 source_pinned, one being demoted or restored 409 transition_in_progress. An event of the ${kind} arriving later creates it again.`,
        tags: ['sources'],
        params: idParams,
        response: { 204: answer('deleted', null) },
      },
    }, async (req, reply) => {
      await removeSource(deps, { kind, id: req.params.id });
      return reply.status(204).send();
    });

    app.post<{ Params: { id: string } }>(
      paths.restore,
      {
        config: { scope: 'restore', errors: ['source_not_found'] },
        schema: {
          operationId: `restore${Kind}`,
          summary: `Restore an expired ${kind} to the hot tier`,
          description: 'Parallel calls run one restore. A restore asked for while demoting starts when the demotion ends (`restorePending`).',
          tags: ['sources'],
          params: idParams,
          response: {
            200: answer('already hot', tierAnswer()),
            202: answer('restoring (or to be restored once the demotion ends)', tierAnswer({ restorePending: { type: 'boolean' } })),
          },
        },
      },
      async (req, reply) => {
        const { record } = await deps.tiers.restore({ kind, id: req.params.id }, 'restore requested by API');
        if (record.tier === 'hot') return { id: record.id, tier: 'hot' };
        return reply.status(202).send({ id: record.id, tier: record.tier, ...(record.pendingRestore && { restorePending: true }) });
      },
    );

    app.post<{ Params: { id: string } }>(
      paths.demote,
      {
        config: { scope: 'admin', errors: ['source_not_found', 'transition_in_progress'] },
        schema: {
          operationId: `demote${Kind}`,
          summary: `Expire a ${kind} now, even if pinned`,
          tags: ['sources'],
          params: idParams,
          response: { 202: answer('demoting (or already expired)', tierAnswer()) },
        },
      },
      async (req, reply) => {
        const record = await deps.tiers.demote({ kind, id: req.params.id }, 'demoted by API (admin)', true);
        return reply.status(202).send({ id: record.id, tier: record.tier });
      },
    );
  }

  app.post<{ Body: { tag?: string; ids?: string[] } }>(
    '/v1/restore',
    {
      config: { scope: 'restore' },
      schema: {
        operationId: 'restoreSources',
        summary: 'Restore every source carrying a tag, or the sources named',
        description: 'Body {"tag": tag} or {"ids": ["campaign:A", "canvas:C", ...]} (at most 1,000). An unknown source is listed with tier null and error source_not_found.',
        tags: ['sources'],
        response: {
          202: answer('each source and its tier after the request', {
            type: 'object',
            required: ['sources'],
            properties: {
              sources: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['source', 'tier'],
                  properties: {
                    source: { type: 'string' },
                    tier: nullableTier,
                    error: { type: 'string', enum: ['source_not_found'] },
                  },
                },
              },
            },
          }),
        },
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          maxProperties: 1,
          properties: {
            tag: idString,
            ids: { type: 'array', minItems: 1, maxItems: 1_000, items: { type: 'string', maxLength: 140 } },
          },
        },
      },
    },
    async (req, reply) => {
      const refs: SourceRef[] = req.body.tag !== undefined
        ? deps.registry.tagged({ tag: req.body.tag })
        : parseSources(req.body.ids!.join(','), 1_000);
      const sources = [];
      for (const ref of refs) {
        try {
          const { record } = await deps.tiers.restore(ref, req.body.tag !== undefined ? `bulk restore of tag ${req.body.tag}` : 'bulk restore');
          sources.push({ source: `${ref.kind}:${ref.id}`, tier: record.tier });
        } catch (err) {
          if (!(err instanceof TierError && err.code === 'source_not_found')) throw err;
          sources.push({ source: `${ref.kind}:${ref.id}`, tier: null, error: 'source_not_found' });
        }
      }
      return reply.status(202).send({ sources });
    },
  );
}

export type { SourceKind };
