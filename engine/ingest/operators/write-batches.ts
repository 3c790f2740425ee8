import { firstValueFrom, from, mergeMap, timer, type OperatorFunction, type SchedulerLike, asyncScheduler } from 'rxjs';

export interface WriteBatchesOptions<T> {
  /** Batches written at the same time. */
  concurrency: number;
  /** Backoff before retry n (1-based), in ms: min(base * 2^(n-1), max). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /**
   * Failed attempts after which a batch is suspected of carrying items that make it fail
   * (default: never, retry without limit). Only with `healthy`, `rejectable` and `reject`.
   */
  maxAttempts?: number;
  /** Whether the stores answer. While they do not, every failure is retried without limit. */
  healthy?: () => Promise<boolean>;
  /** Whether a failure may be the data's fault (e.g. the history insert refused it). */
  rejectable?: (err: unknown) => boolean;
  /**
   * The item to write instead of one that failed alone while other writes succeeded (the
   * engine turns it into a dead letter carrying the cause). Written with unbounded retries.
   */
  reject?: (item: T, err: unknown) => T;
  /** Called on every failed attempt, before the backoff (logging, metrics). */
  onError?: (err: unknown, batch: T[], attempt: number) => void;
  scheduler?: SchedulerLike;
}

/**
 * Writes each batch with `write`, retrying with exponential backoff, with at most
 * `concurrency` batches in flight; emits the batch once written (possibly with some items
 * replaced by `reject`). A batch is never emitted, so never acknowledged, before its write
 * resolved.
 *
 * Retries are bounded only for failures that may be the data's fault (`rejectable`), while
 * the stores answer (`healthy`). After `maxAttempts` such failures a batch is split in halves
 * written side by side (two attempts each), and parts keep being split down to the single
 * items that still fail. An item is replaced by `reject(item, cause)` only on evidence that
 * the store takes writes: some write (of any batch) succeeded after that item first failed
 * alone. Without evidence, parts are split at most `FREE_SPLITS` levels deep and then
 * retried without limit, so a store that refuses every write never sends anything to the
 * dead-letter queue and costs at most 2^FREE_SPLITS writes per backoff period.
 */
export function writeBatches<T>(write: (batch: T[]) => Promise<void>, opts: WriteBatchesOptions<T>): OperatorFunction<T[], T[]> {
  const scheduler = opts.scheduler ?? asyncScheduler;
  const sleep = (ms: number) => firstValueFrom(timer(ms, scheduler));
  const bounded = opts.maxAttempts !== undefined && !!opts.healthy && !!opts.rejectable && !!opts.reject;
  const ISOLATE_ATTEMPTS = 2;
  const FREE_SPLITS = 3;
  let lastSuccess = -1; // performance.now() of the latest successful write, any batch

  async function attempt(items: T[], budget: number, freeSplits: number): Promise<T[]> {
    let firstFailure = -1;
    for (let n = 1; ; n++) {
      try {
        await write(items);
        lastSuccess = performance.now();
        return items;
      } catch (err) {
        if (firstFailure < 0) firstFailure = performance.now();
        opts.onError?.(err, items, n);
        if (bounded && n >= budget && opts.rejectable!(err) && (await opts.healthy!().catch(() => false))) {
          const evidence = lastSuccess > firstFailure;
          if (items.length === 1 && evidence) return attempt([opts.reject!(items[0]!, err)], Infinity, 0);
          if (items.length > 1 && (evidence || freeSplits > 0)) {
            const mid = items.length >>> 1;
            const next = evidence ? freeSplits : freeSplits - 1;
            const [left, right] = await Promise.all([
              attempt(items.slice(0, mid), ISOLATE_ATTEMPTS, next),
              attempt(items.slice(mid), ISOLATE_ATTEMPTS, next),
            ]);
            return left.concat(right);
          }
        }
        await sleep(Math.min(opts.backoffBaseMs * 2 ** (n - 1), opts.backoffMaxMs));
      }
    }
  }

  return mergeMap(
    (items: T[]) =>
      from(
        attempt(items, bounded ? opts.maxAttempts! : Infinity, FREE_SPLITS).then((out) => {
          // The same array goes on (callers key per-batch data on it), with rejects in place.
          if (out !== items) for (let i = 0; i < out.length; i++) items[i] = out[i]!;
          return items;
        }),
      ),
    opts.concurrency,
  );
}
