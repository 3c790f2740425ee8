import type { FastifyInstance } from 'fastify';
import { sourceName, type SourceKind, type SourceRecord, type SourceRef, type SourceRegistry, type Tier } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
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

/** A set of candidates at most this large is sorted for a page; a larger one is found by walking the name index instead. */
export const MAX_SORTED = 10_000;

const fromCursor = (c: string): SourceRef => {
  const name = decodeCursor(c);
  const m = /^(campaign|canvas):/.exec(name);
  if (!m) throw new ApiError('invalid_request', 'cursor: not a cursor this listing returned');
  return { kind: m[1] as SourceKind, id: name.slice(m[0].length) };
};
/** Source-name order, without building the names. */
const byName = (a: SourceRef, b: SourceRef) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Whether a record passes the listing's filters; `needle` is the search text in lower case. */
function matches(r: SourceRecord, q: Pick<Query, 'kind' | 'tier' | 'status' | 'tag'>, needle: string): boolean {
  if ((q.kind && r.kind !== q.kind) || (q.tier && r.tier !== q.tier) || (q.status && r.status !== q.status)) return false;
  if (q.tag && !r.tags.includes(q.tag)) return false;
  return !needle || r.id.toLowerCase().includes(needle) || (r.name ?? '').toLowerCase().includes(needle);
}

/**
 * Up to `n` mirrored records that pass the filters, after `after`, in source-name order. When a
 * tag or a tier few sources are in (restoring, demoting) leaves at most MAX_SORTED candidates,
 * those are filtered and sorted; otherwise the registry's name index is walked from the cursor
 * (from the kind's first source) until `n` pass. The walk reads about n x sources / matching
 * records: a page of a filter most sources pass reads about n; a search (`q`) for a rare text
 * reads every source after the cursor (bench/README.md, "sources").
 */
export function pageOf(registry: SourceRegistry, q: Pick<Query, 'kind' | 'tier' | 'status' | 'tag'>, needle: string, after: SourceRef | undefined, n: number): SourceRecord[] {
  const sets = [q.tag === undefined ? undefined : registry.taggedRecords(q.tag), q.tier && registry.inTier(q.tier)].filter((x): x is SourceRecord[] => !!x);
  const fewest = sets.sort((a, b) => a.length - b.length)[0];
  if (fewest && fewest.length <= MAX_SORTED) {
    return fewest.filter((r) => matches(r, q, needle) && (!after || byName(r, after) > 0)).sort(byName).slice(0, n);
  }
  let from = after;
  if (q.kind && (!from || from.kind < q.kind)) from = { kind: q.kind, id: '' };
  const out: SourceRecord[] = [];
  for (const r of registry.inOrder(from)) {
    if (q.kind && r.kind !== q.kind) break;
    if (matches(r, q, needle) && out.push(r) === n) break;
  }
  return out;
}

/**
 * The whole records of a page of mirrored ones (the mirror holds no audit trails), one KV read
 * each, all at once; one deleted meanwhile is left out.
 */
export async function wholeRecords(registry: SourceRegistry, page: readonly SourceRecord[]): Promise<SourceRecord[]> {
  return (await Promise.all(page.map((r) => registry.get(r)))).filter((r): r is SourceRecord => r !== null);
}

/**
 * GET /v1/sources: campaigns and canvases in one listing, filtered and searched, in source-name
 * order (`campaign:…` before `canvas:…`, then by id), paged by cursor. Filtering reads the
 * registry's mirror and its indexes (pageOf: no sort of every source); the page's records are
 * read whole from the registry (in parallel), its counts cost one ClickHouse query and one
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
      const found = pageOf(deps.registry, req.query, needle, after, limit + 1);
      const page = found.slice(0, limit);
      const items = await statesOf(deps, await wholeRecords(deps.registry, page));
      return { items, cursor: found.length > limit ? encodeCursor(sourceName(page[page.length - 1]!)) : null };
    },
  );
}
