import { sourceName, TierstreamError, type History, type HotIndex, type SourceIdSets, type SourceRecord, type SourceRef, type SourceRegistry } from '../../core/index.js';
import { TierError } from './context.js';

/** Why a source may not be deleted: it has events, or a registered filter names it. */
export class RemovalError extends TierstreamError<'source_has_events' | 'source_pinned'> {
  constructor(code: 'source_has_events' | 'source_pinned', message: string, readonly detail: { events?: number; pinnedBy?: string[] }, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Throws unless `rec` may be deleted as far as the registry record tells (tier and pins). */
function removable(rec: SourceRecord, tierSeen: SourceRecord['tier']): void {
  const name = sourceName(rec);
  if (rec.tier === 'restoring' || rec.tier === 'demoting' || rec.tier !== tierSeen) {
    throw new TierError('transition_in_progress', `${name} is ${rec.tier}`);
  }
  if (rec.pinnedBy.length) throw new RemovalError('source_pinned', `${name} is pinned by ${rec.pinnedBy.join(', ')}`, { pinnedBy: rec.pinnedBy });
}

/**
 * Deletes a source that has no events (one declared by mistake, or by PUT and never used):
 * its registry record (compare-and-set: a pin or transition made meanwhile refuses it), its
 * variant and step ids, and, when it was expired, its closed tier gate, so that a source of the
 * same id made later (by its first event) is written to the hot index.
 *
 * Throws TierError (`source_not_found`, `transition_in_progress` while demoting or restoring),
 * RemovalError (`source_has_events`, `source_pinned`). An event of the source written while it
 * is deleted brings it back (the engine ensures its sources after each insert).
 */
export async function removeSource(
  deps: { registry: SourceRegistry; history: Pick<History, 'countEvents'>; hot: Pick<HotIndex, 'setGate'>; sourceIds?: SourceIdSets },
  source: SourceRef,
): Promise<void> {
  const name = sourceName(source);
  const rec = await deps.registry.get(source);
  if (!rec) throw new TierError('source_not_found', `${name} is not known`);
  removable(rec, rec.tier);
  const events = await deps.history.countEvents(source);
  if (events > 0) throw new RemovalError('source_has_events', `${name} has ${events} events; only a source without events can be deleted`, { events });
  // Opened before the record goes, so that no moment has a new record behind a closed gate.
  if (rec.tier === 'expired') await deps.hot.setGate(source, null);
  try {
    await deps.registry.remove(source, (cur) => removable(cur, rec.tier));
  } catch (err) {
    const now = await deps.registry.get(source).catch(() => null);
    if (rec.tier === 'expired' && (now?.tier === 'expired' || now?.tier === 'demoting')) await deps.hot.setGate(source, now.tier);
    throw err;
  }
  await deps.sourceIds?.drop(source);
}
