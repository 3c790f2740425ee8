import { defer, map, mergeMap, retry, timer, type OperatorFunction, type SchedulerLike, asyncScheduler } from 'rxjs';

export interface WriteBatchesOptions<T> {
  /** Batches written at the same time. */
  concurrency: number;
  /** Backoff before retry n (1-based), in ms: min(base * 2^(n-1), max). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Called on every failed attempt, before the backoff (logging, extending ack deadlines). */
  onError?: (err: unknown, batch: T[], attempt: number) => void;
  scheduler?: SchedulerLike;
}

/**
 * Writes each batch with `write`, retrying with exponential backoff until it succeeds, with at
 * most `concurrency` batches in flight; emits the batch once written. A batch is never
 * emitted (so never acknowledged) before its write resolved.
 */
export function writeBatches<T>(write: (batch: T[]) => Promise<void>, opts: WriteBatchesOptions<T>): OperatorFunction<T[], T[]> {
  const scheduler = opts.scheduler ?? asyncScheduler;
  return mergeMap(
    (items: T[]) =>
      defer(() => write(items)).pipe(
        retry({
          delay: (err, attempt) => {
            opts.onError?.(err, items, attempt);
            return timer(Math.min(opts.backoffBaseMs * 2 ** (attempt - 1), opts.backoffMaxMs), scheduler);
          },
        }),
        map(() => items),
      ),
    opts.concurrency,
  );
}
