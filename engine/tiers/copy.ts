import { concatMap, concat, defer, EMPTY, from, map, mergeMap, Observable, Subject, takeWhile, tap, throwError, type SchedulerLike } from 'rxjs';
import { renewWhile } from '../../core/index.js';

/**
 * The history-to-Redis copy, as the RxJS pipeline it is: chunks read from history one at a time,
 * each prepared in read order (filtered, its claim checked), written with bounded concurrency,
 * the next chunk read only as a write lands (so at most `concurrency` chunks are held), the
 * progress emitted as chunks land, a lease kept on a timer while it runs. Restores and the
 * Redis-loss rebuild both copy through it (history-copy.ts says how for a source's aggregate);
 * it knows nothing of what a chunk holds, so another kind of data (a namespace-wide index) is
 * copied the same way with its own spec.
 *
 * Chunks are read in key order and a key's rows may straddle two chunks: the copy's resume point
 * is the last key of the last chunk that landed with every chunk before it, and a copy resumed
 * from it reads that key again (writes are max-merges, so a row written twice is harmless).
 */
export interface CopySpec<T, W> {
  /** The chunks in key order, from `from` (inclusive) on, or from the first when undefined. */
  read(from: string | undefined): AsyncIterable<T[]>;
  /** The key of a chunk's last row. */
  keyOf(chunk: T[]): string;
  /**
   * Makes a chunk ready to write, in read order, one at a time (filters it, waits at a fault
   * point); undefined stops the copy before this chunk (no more chunks are sent).
   */
  prepare(chunk: T[], index: number): Promise<W | undefined>;
  write(prepared: W): Promise<void>;
  /** Writes in flight at once (the reading of the next chunk overlaps them). */
  concurrency: number;
  /** Where a copy taken over continues: read again from `from`, `rows` already written. */
  resume?: CopyResume | null;
  /**
   * Kept while the copy runs: `renew` every `everyMs` on `scheduler`, and before a chunk is sent
   * when the last renewal is older than `reportMs`; it answering false (the claim was taken
   * over) stops the copy before its next chunk. It gets the copy's state, to report progress.
   */
  lease?: { scheduler: SchedulerLike; everyMs: number; reportMs: number; renew(state: CopyState): Promise<boolean> };
  /** How long a read or write may wait before the state says the copy waits for it, ms (default 2_000). */
  slowMs?: number;
  /** The clock for slowness and reports (default: the lease's scheduler, else Date.now). */
  now?: () => number;
}

export interface CopyResume {
  from: string;
  rows: number;
}

/** A copy's state: rows landed in all, where a successor would resume, what it waits for. */
export interface CopyState {
  /** Rows of the chunks that landed (with a resumed copy's rows before it). */
  rows: number;
  /** The resume point after the chunks landed in order; null before the first one. */
  resume: CopyResume | null;
  /** The store a read or write has waited on for longer than `slowMs`, and how long; null when none. */
  waiting: { store: 'history' | 'hot'; ms: number } | null;
}

/** Why a copy ended: it finished, or it stopped before a chunk (its claim was gone). */
export type CopyEnd = 'finished' | 'stopped';

/**
 * The copy: emits its state each time a chunk lands, then completes; errors (a read or a
 * write failed) only once every write already sent has landed or failed, so that whoever
 * settles after it (erasures) knows nothing more will land.
 */
export function copyChunks<T, W>(spec: CopySpec<T, W>): Observable<CopyState> & { end(): CopyEnd } {
  let end: CopyEnd = 'finished';
  const obs = defer(() => {
    const now = spec.now ?? (spec.lease ? () => spec.lease!.scheduler.now() : Date.now);
    const slowMs = spec.slowMs ?? 2_000;
    const state: CopyState = { rows: spec.resume?.rows ?? 0, resume: spec.resume ?? null, waiting: null };
    const writing = new Map<number, number>(); // chunk index -> when its write began, while in flight
    let readingSince: number | null = null;
    const waiting = () => {
      const t = now();
      const oldestWrite = Math.min(...writing.values());
      if (writing.size && t - oldestWrite > slowMs) return { store: 'hot' as const, ms: t - oldestWrite };
      if (readingSince !== null && t - readingSince > slowMs) return { store: 'history' as const, ms: t - readingSince };
      return null;
    };
    const snapshot = (): CopyState => ({ ...state, waiting: waiting() });

    let failed: { err: unknown } | undefined;
    const fail = (err: unknown) => void (failed ??= { err });
    let lost = false;
    let stopped = false;
    let renewedAt = now();
    const renewal = spec.lease && renewWhile(spec.lease.scheduler, spec.lease.everyMs, async () => {
      const kept = await spec.lease!.renew(snapshot());
      renewedAt = now();
      if (!kept) lost = true;
      return kept;
    });
    /** Before a chunk is sent: its claim confirmed (not after: a copy that stalled past its lease sends nothing more once it wakes). */
    const claimed = async () => {
      if (lost || failed) return false;
      if (spec.lease && now() - renewedAt > spec.lease.reportMs) {
        renewedAt = now();
        if (!(await spec.lease.renew(snapshot()))) lost = true;
      }
      return !lost;
    };

    // Chunks landed out of order, until the ones before them land too.
    const landedEarly = new Map<number, { rows: number; key: string }>();
    let nextInOrder = 0;
    const landed = (index: number, rows: number, key: string) => {
      state.rows += rows;
      landedEarly.set(index, { rows, key });
      for (let c = landedEarly.get(nextInOrder); c; c = landedEarly.get(nextInOrder)) {
        landedEarly.delete(nextInOrder++);
        state.resume = { from: c.key, rows: (state.resume?.rows ?? 0) + c.rows };
      }
    };

    const credits = new Subject<void>();
    const chunks = pulled(() => spec.read(spec.resume?.from), credits, spec.concurrency, fail, (busy) => (readingSince = busy ? now() : null));
    let index = 0;
    return concat(
      chunks.pipe(
        // A failure here (a renewal, a fault point) stops the copy like a failed write: the
        // pipeline ends only once the writes already sent have landed.
        concatMap(async (chunk) => {
          const i = index++;
          try {
            const prepared = (await claimed()) ? await spec.prepare(chunk, i) : undefined;
            if (prepared !== undefined) return { i, chunk, prepared };
          } catch (err) {
            fail(err);
          }
          stopped = true;
          return undefined;
        }),
        takeWhile((c) => c !== undefined),
        mergeMap(({ i, chunk, prepared }) => {
          writing.set(i, now());
          return from(spec.write(prepared).then(() => landed(i, chunk.length, spec.keyOf(chunk)), fail)).pipe(
            tap(() => {
              writing.delete(i);
              credits.next();
            }),
            map(snapshot),
          );
        }, spec.concurrency),
      ),
      defer(() => {
        renewal?.stop();
        if (failed) return throwError(() => failed!.err);
        if (stopped) end = 'stopped';
        return EMPTY;
      }),
    ).pipe(
      tap({ error: () => renewal?.stop(), unsubscribe: () => renewal?.stop() }),
    );
  });
  return Object.assign(obs, { end: () => end });
}

/**
 * An async iterable as an observable that reads one item per credit: `initial` at first, then
 * one for each value of `credits`, so a reader is never further ahead than the writes allow. A
 * read error goes to `fail` and completes the stream (the pipeline above throws it once the
 * writes in flight have landed); `reading` says when a read is waiting.
 */
function pulled<T>(
  open: () => AsyncIterable<T>, credits: Observable<void>, initial: number, fail: (err: unknown) => void, reading: (busy: boolean) => void,
): Observable<T> {
  return new Observable<T>((sub) => {
    const it = open()[Symbol.asyncIterator]();
    let owed = initial;
    let busy = false;
    let done = false;
    const pump = async () => {
      if (busy || done) return;
      busy = true;
      try {
        while (owed > 0 && !sub.closed) {
          owed--;
          reading(true);
          const r = await it.next();
          reading(false);
          if (r.done) {
            done = true;
            sub.complete();
            return;
          }
          sub.next(r.value);
        }
      } catch (err) {
        done = true;
        reading(false);
        fail(err);
        sub.complete();
      } finally {
        busy = false;
      }
    };
    const credited = credits.subscribe(() => {
      owed++;
      void pump();
    });
    void pump();
    return () => {
      credited.unsubscribe();
      if (!done) {
        done = true;
        void Promise.resolve(it.return?.()).catch(() => undefined);
      }
    };
  });
}
