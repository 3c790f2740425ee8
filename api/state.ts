import { formatTime, restoreEtaSeconds, type SourceRecord } from '../core/index.js';

const iso = (ms: number | null) => (ms === null ? null : formatTime(ms));

/** The contract's source state, from a registry record and the counts. */
export function sourceState(rec: SourceRecord, counts: { hot: number | null; history: number }) {
  return {
    id: rec.id,
    kind: rec.kind,
    name: rec.name,
    tags: rec.tags,
    status: rec.status,
    tier: rec.tier,
    stoppedAt: iso(rec.stoppedAt),
    expiresAt: iso(rec.expiresAt),
    pinnedBy: rec.pinnedBy,
    restore: rec.restore && {
      startedAt: iso(rec.restore.startedAt),
      finishedAt: iso(rec.restore.finishedAt),
      progress: rec.restore.progress,
      etaSeconds: restoreEtaSeconds(rec, Date.now()),
    },
    transitions: rec.transitions.map((t) => ({ tier: t.tier, at: iso(t.at), reason: t.reason })),
    counts,
  };
}
