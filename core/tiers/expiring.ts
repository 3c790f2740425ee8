import { sourceName } from '../sources.js';
import type { SourceRecord } from '../types.js';

/** Where a page of the expiry preview starts: after this expiry time and source name. */
export interface ExpiringCursor {
  expiresAt: number;
  source: string;
}

/**
 * The expiry preview (docs/api.md, "Routes": `GET /v1/expiring`): hot sources that
 * will expire by `until`, soonest first, ties by source name, after `after`. A pinned or
 * active source has no `expiresAt` and is never in it; nor is one already demoting.
 */
export function expiringSources(records: Iterable<SourceRecord>, until: number, after?: ExpiringCursor): SourceRecord[] {
  const out: SourceRecord[] = [];
  for (const r of records) {
    if (r.tier !== 'hot' || r.expiresAt === null || r.pinnedBy.length > 0 || r.expiresAt > until) continue;
    if (after && (r.expiresAt < after.expiresAt || (r.expiresAt === after.expiresAt && sourceName(r) <= after.source))) continue;
    out.push(r);
  }
  return out.sort((a, b) => a.expiresAt! - b.expiresAt! || (sourceName(a) < sourceName(b) ? -1 : sourceName(a) > sourceName(b) ? 1 : 0));
}
