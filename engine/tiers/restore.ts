import { lastValueFrom } from 'rxjs';
import { leaseLapsed, renewWhile, sourceName, transition, type SourceRecord, type SourceRef } from '../../core/index.js';
import { TierError, type TierContext } from './context.js';
import type { CopyState } from './copy.js';
import { loadCountMarks } from './count-marks.js';
import { copySourceHistory, settleErasures } from './history-copy.js';

/** Progress and resume points are reported at most this often while chunks land, ms. */
const REPORT_MS = 250;

/**
 * expired -> restoring -> hot: open the gate for ingest, copy the history aggregate into Redis
 * with the same merge as ingest (max, hot.load), mark hot. The claim is renewed on a timer for
 * as long as the restore runs, with its progress and its resume point (the last chunk written
 * with every chunk before it); a restore whose claim lapsed anyway (its process died or stalled
 * past the lease) is taken over by another process, which continues from that resume point, not
 * from the first row.
 */
export function createRestores(ctx: TierContext) {
  const { deps, options, log, now } = ctx;

  /**
   * Restores an expired source (or resumes a restore whose process died). Resolves with the
   * record after the claim; `started` says whether this call began the work.
   */
  async function restore(source: SourceRef, reason: string): Promise<{ record: SourceRecord; started: boolean }> {
    const { record, changed } = await deps.registry.update(source, (rec) => {
      if (!rec) return undefined;
      const t = now();
      if (rec.tier === 'restoring' && leaseLapsed(rec, t)) {
        // restore_resumed (restoring -> restoring): where the last holder's chunks end, if it said.
        const resume = rec.restore?.resume ?? null;
        const from = resume ? `, continuing after the ${resume.rows.toLocaleString('en-US')} rows already written` : '';
        return {
          ...transition(rec, 'restoring', `resumed after a lapsed restore: ${reason}${from}`, t, options.expireAfter),
          lease: ctx.lease(),
          restore: { startedAt: rec.restore?.startedAt ?? t, finishedAt: null, progress: rec.restore?.progress ?? 0, progressAt: t, resume, waiting: null },
        };
      }
      // Not a transition: the restore starts when the demotion finishes (see demotion.ts, scans.ts).
      if (rec.tier === 'demoting' && !rec.pendingRestore) return { ...rec, pendingRestore: true };
      if (rec.tier !== 'expired') return undefined;
      // restore (expired -> restoring)
      return {
        ...transition(rec, 'restoring', reason, t, options.expireAfter),
        lease: ctx.lease(),
        pendingRestore: false,
        restore: { startedAt: t, finishedAt: null, progress: 0 },
      };
    });
    if (!record) throw new TierError('source_not_found', `${sourceName(source)} is not known`);
    const started = changed && record.tier === 'restoring';
    if (started) {
      ctx.logTransition(record);
      const resumed = record.transitions.at(-2)?.tier === 'restoring';
      void ctx.once('restore', source, () => runRestore(source, record, resumed));
    }
    return { record, started };
  }

  /** What a waiting copy's state says to people. */
  const waitingWords = (w: CopyState['waiting']): string | null => {
    if (!w) return null;
    const s = Math.round(w.ms / 1000);
    return w.store === 'hot'
      ? `writing to Redis, which has not finished a chunk for ${s} s (busy or paused); the restore goes on when it answers`
      : `reading history from ClickHouse, which has not sent the next chunk for ${s} s; the restore goes on when it answers`;
  };

  /** `resumed`: taken over from a process whose claim lapsed (it may have written chunks and not settled). */
  async function runRestore(source: SourceRef, claimed: SourceRecord, resumed: boolean): Promise<void> {
    const started = performance.now();
    const resume = claimed.restore?.resume ?? null;
    // Sized while the gate is still closed (the source holds no user, on a first run): the load then
    // writes into buckets of the right number instead of growing them one split at a time.
    // Aggregate rows are at least the users, so this errs on more, smaller buckets. The row count
    // also measures progress.
    let total = 0;
    let last: CopyState = { rows: resume?.rows ?? 0, resume, waiting: null };
    let lost = false;
    const setup = renewWhile(ctx.scheduler, ctx.leaseMs / 3, async () => {
      if (!(await renew(last))) lost = true;
      return !lost;
    });
    try {
      total = await deps.history.countAggregateRows(source).catch(() => 0);
      if (total > 0) await deps.hot.reserve(source, total);
      await deps.hot.setGate(source, 'restoring');
    } finally {
      setup.stop(); // the copy keeps the claim from here on
    }
    if (lost) return; // taken over while this process set up: the new owner finishes
    // Before the read begins: what it returns may hold users of any erasure not done by now.
    const mark = deps.erasures?.mark() ?? 0;
    /**
     * Renews the claim with the copy's progress, resume point and what it waits for; false once
     * the claim is another process's (it finishes: this one sends nothing more). Renewed on a
     * timer, not only between chunks: a count, a read or a write stalled on a busy store longer
     * than the lease must not let another process take the restore over. A process that is
     * itself stalled (its timers too) still loses it, and the check before each chunk stops it
     * sending more once it wakes.
     */
    async function renew(state: CopyState): Promise<boolean> {
      const progress = total ? Math.min(state.rows / total, 0.99) : 0;
      const { changed } = await deps.registry.update(source, (rec) =>
        ctx.mine(rec) && rec.tier === 'restoring'
          ? { ...rec, lease: ctx.lease(), restore: { ...rec.restore!, progress, progressAt: now(), resume: state.resume, waiting: waitingWords(state.waiting) } }
          : undefined,
      );
      return changed;
    }
    const copy = copySourceHistory(ctx, source, {
      work: 'restore',
      mark,
      resume,
      lease: { scheduler: ctx.scheduler, everyMs: ctx.leaseMs / 3, reportMs: REPORT_MS, renew },
    });
    try {
      last = await lastValueFrom(copy, { defaultValue: last });
      // The hot counts last, with the claim renewed as in the setup: still restoring, so count
      // leaves read history until the marks are in (count-marks.ts).
      if (copy.end() !== 'stopped') {
        const marks = renewWhile(ctx.scheduler, ctx.leaseMs / 3, async () => {
          if (!(await renew(last))) lost = true;
          return !lost;
        });
        try {
          await loadCountMarks(deps, source, ctx.chunkRows, mark, now());
        } finally {
          marks.stop();
        }
      }
    } finally {
      // Every exit (finished, taken over, failed): once what was sent has landed (the copy ends
      // only then), no erasure recorded meanwhile stays undone by it. A resumed restore also
      // undoes what its earlier holders may have written and not settled: any erasure finished
      // since the restore began, less a lease for the clocks of other processes.
      const since = resumed ? (claimed.restore?.startedAt ?? 0) - ctx.leaseMs : undefined;
      await settleErasures(ctx, mark, [source], since);
    }
    if (copy.end() === 'stopped' || lost) return; // our claim was taken over: the new owner finishes
    await deps.hot.setGate(source, null);
    const { record, changed } = await deps.registry.update(source, (rec) => {
      if (!ctx.mine(rec) || rec.tier !== 'restoring') return undefined;
      const t = now();
      // restore_finished (restoring -> hot)
      const restored = { ...rec, lease: null, restore: { startedAt: rec.restore?.startedAt ?? t, finishedAt: t, progress: 1 } };
      return transition(restored, 'hot', `restore finished: ${last.rows} aggregate rows`, t, options.expireAfter);
    });
    if (changed && record) {
      ctx.logTransition(record);
      deps.metrics.restoreSeconds.observe((performance.now() - started) / 1000);
    }
  }

  return { restore };
}
