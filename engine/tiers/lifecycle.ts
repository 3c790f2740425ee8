import { newSourceRecord, recompute, sourceName, type SourceRecord, type SourceRef } from '../../core/index.js';
import { TierError, type Lifecycle, type TierContext } from './context.js';

/** A restore's reason when pins were gained: the filters that gained them, whether they name the source by id or by a tag. */
const pinnedReason = (gained: readonly string[]) => `pinned by filter ${gained.join(', ')}`;
const samePins = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((f) => b.includes(f));
const notHot = (rec: SourceRecord) => rec.tier === 'expired' || rec.tier === 'demoting';

/**
 * A source's lifecycle (status, name, tags) and its pins: each change one compare-and-set on the
 * registry that recomputes the expiry; setting a source active, or pinning it, restores it when
 * it is not hot (`restore`).
 */
export function createLifecycle(ctx: TierContext, restore: (source: SourceRef, reason: string) => Promise<{ record: SourceRecord }>) {
  const { deps, options, now } = ctx;

  /**
   * The record with `pinnedBy` set to `pins` (sorted): removing the last pin restarts the expiry
   * clock, as an unpin does. `gained` says whether a pin was added.
   */
  function withPins(rec: SourceRecord, pins: string[]): { next: SourceRecord; gained: string[] } {
    const pinnedBy = [...new Set(pins)].sort();
    const gained = pinnedBy.filter((f) => !rec.pinnedBy.includes(f));
    const lost = rec.pinnedBy.some((f) => !pinnedBy.includes(f));
    const lastUnpinAt = lost && pinnedBy.length === 0 ? now() : rec.lastUnpinAt;
    return { next: recompute({ ...rec, pinnedBy, lastUnpinAt }, options.expireAfter), gained };
  }

  /**
   * Sets a source's lifecycle (PUT, creating it when unknown) or changes some of it (PATCH,
   * `create` false: absent fields unchanged; TierError `source_not_found` when unknown).
   */
  async function setLifecycle(source: SourceRef, body: Lifecycle | Partial<Lifecycle>, create = true): Promise<SourceRecord> {
    let gained: string[] = [];
    const { record } = await deps.registry.update(source, (rec) => {
      if (!rec && !create) return undefined;
      const base = rec ?? newSourceRecord(source, now(), 'created by PUT');
      const status = body.status ?? base.status;
      let next: SourceRecord = {
        ...base,
        status,
        stoppedAt: status === 'stopped' ? body.stoppedAt ?? base.stoppedAt ?? now() : null,
        name: body.name === undefined ? base.name : body.name,
        tags: body.tags ?? base.tags,
      };
      gained = [];
      if (deps.pinsWanted) ({ next, gained } = withPins(next, deps.pinsWanted(next)));
      return recompute(next, options.expireAfter);
    });
    if (!record) throw new TierError('source_not_found', `${sourceName(source)} is not known`);
    if (notHot(record) && (body.status === 'active' || gained.length > 0)) {
      return (await restore(source, body.status === 'active' ? 'set active' : pinnedReason(gained))).record;
    }
    return record;
  }

  /**
   * Sets a source's pins to what `pinsWanted` says of its current record (a tag filter was
   * registered, replaced or heard of, or the source's tags changed elsewhere); restores it when
   * it gained a pin while expired. Unknown sources are left alone.
   */
  async function repin(source: SourceRef): Promise<void> {
    if (!deps.pinsWanted) return;
    let gained: string[] = [];
    const { record, changed } = await deps.registry.update(source, (rec) => {
      if (!rec || samePins(rec.pinnedBy, deps.pinsWanted!(rec))) return undefined;
      let next: SourceRecord;
      ({ next, gained } = withPins(rec, deps.pinsWanted!(rec)));
      return next;
    });
    if (changed && record && gained.length > 0 && (notHot(record) || record.tier === 'restoring')) await restore(source, pinnedReason(gained));
  }

  /** Pins sources for a filter (unknown ones are left alone: a filter never creates a source); restores expired ones. */
  async function pin(filterId: string, sources: SourceRef[]): Promise<void> {
    for (const source of sources) {
      const { record } = await deps.registry.update(source, (rec) => {
        if (!rec || rec.pinnedBy.includes(filterId)) return undefined;
        return recompute({ ...rec, pinnedBy: [...rec.pinnedBy, filterId].sort() }, options.expireAfter);
      });
      if (record && (record.tier === 'expired' || record.tier === 'demoting' || record.tier === 'restoring')) {
        await restore(source, `pinned by filter ${filterId}`);
      }
    }
  }

  async function unpin(filterId: string, sources: SourceRef[]): Promise<void> {
    for (const source of sources) {
      await deps.registry.update(source, (rec) => {
        if (!rec || !rec.pinnedBy.includes(filterId)) return undefined;
        const pinnedBy = rec.pinnedBy.filter((f) => f !== filterId);
        return recompute({ ...rec, pinnedBy, lastUnpinAt: pinnedBy.length ? rec.lastUnpinAt : now() }, options.expireAfter);
      });
    }
  }

  return { setLifecycle, repin, pin, unpin };
}
