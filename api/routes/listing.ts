import type { FastifyInstance } from 'fastify';
import { sourceName, type SourceKind, type SourceRecord, type Tier } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { answer, cursorAnswer, idString, pageLimit, ref, sourceKind, tier } from '../schemas.js';
import { statesOf } from '../state.js';

/** Longest search text, in characters (an id is at most 128, a name 256). */
export const MAX_SEARCH = 256;

interface Query {
  kind?: SourceKind;
  tier?: Tier;
  status?: 'active' | 'stopped';
  tag?: string;
  q?: string;
  limit?: number;
  cursor?: string;
}

const cursorOf = (name: string) => Buffer.from(name, 'utf8').toString('base64url');
const fromCursor = (c: string) => {
  const name = Buffer.from(c, 'base64url').toString('utf8');
  if (!/^(campaign|canvas):/.test(name)) throw new ApiError('invalid_request', 'cursor: not a cursor this listing returned');
  return name;
};

/** Whether a record passes the listing's filters; `needle` is the search text in lower case. */
function matches(r: SourceRecord, q: Query, needle: string): boolean {
  if ((q.kind && r.kind !== q.kind) || (q.tier && r.tier !== q.tier) || (q.status && r.status !== q.status)) return false;
  if (q.tag && !r.tags.includes(q.tag)) return false;
  return !needle || r.id.toLowerCase().includes(needle) || (r.name ?? '').toLowerCase().includes(needle);
}

/**
 * GET /v1/sources: campaigns and canvases in one listing, filtered and searched, in source-name
 * order (`campaign:…` before `canvas:…`, then by id), paged by cursor. Filtering reads the
 * registry's mirror (no store call); the page's counts cost one ClickHouse query and one
 * pipelined Redis read.
 */
export function listingRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get<{ Querystring: Query }>(
    '/v1/sources',
    {
      config: { scope: 'lookup' },
      schema: {
        operationId: 'listSources',
        summary: 'Campaigns and canvases in one listing, filtered by kind, tier, status and tag, searched by id or name',
        description:
          'Items are source states, as GET /v1/campaigns/:id answers, ordered by source name (campaigns, then canvases, each by id). ' +
          '`q` matches a case-insensitive substring of the id or the name. `cursor` is the one the previous page returned; ' +
          'pages stay stable as sources come and go (a source added behind the cursor is not seen by that walk).',
        tags: ['sources'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            kind: sourceKind,
            tier,
            status: { type: 'string', enum: ['active', 'stopped'] },
            tag: idString,
            q: { type: 'string', maxLength: MAX_SEARCH },
            limit: pageLimit,
            cursor: { type: 'string', maxLength: 400, pattern: '^[A-Za-z0-9_-]*$' },
          },
        },
        response: {
          200: answer('a page of source states', {
            type: 'object', required: ['items', 'cursor'], properties: { items: { type: 'array', items: ref.sourceState }, cursor: cursorAnswer },
          }),
        },
      },
    },
    async (req) => {
      const { limit = 100, cursor } = req.query;
      const after = cursor ? fromCursor(cursor) : undefined;
      const needle = (req.query.q ?? '').trim().toLowerCase();
      const all: { name: string; rec: SourceRecord }[] = [];
      for (const rec of deps.registry.list()) {
        if (!matches(rec, req.query, needle)) continue;
        const name = sourceName(rec);
        if (after === undefined || name > after) all.push({ name, rec });
      }
      all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const page = all.slice(0, limit);
      const items = await statesOf(deps, page.map((p) => p.rec));
      return { items, cursor: all.length > limit ? cursorOf(page[page.length - 1]!.name) : null };
    },
  );
}
