import { firstValueFrom, from, mergeMap, timer, type OperatorFunction, type SchedulerLike, asyncScheduler } from 'rxjs';

export interface WriteBatchesOptions<T> {
  /** Batches written at the same time. */
  concurrency: number;
  /** Backoff before retry n (1-based), in ms: min(base * 2^(n-1), max). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /**
   * Failed attempts after which a batch is suspected of carrying what makes it fail
   * (default: never, retry without limit). Only with `healthy` and `reject`.
   */
  maxAttempts?: number;
  /**
   * Whether the stores answer. While they do not, the failure is theirs and a batch is
   * retried without limit (the messages stay unacknowledged); while they do, a batch that
   * failed `maxAttempts` times is split to find the items that fail alone.
   */
  healthy?: () => Promise<boolean>;
  /**
   * The item to write instead of one that failed alone against healthy stores (the engine
   * turns it into a dead letter carrying the cause). Written with unbounded retries.
   */
  reject?: (item: T, err: unknown) => T;
  /** Called on every failed attempt, before the backoff (logging, extending ack deadlines). */
  onError?: (err: unknown, batch: T[], attempt: number) => void;
  scheduler?: SchedulerLike;
}

/**
 * Writes each batch with `write`, retrying with exponential backoff, with at most
 * `concurrency` batches in flight; emits the batch once written (possibly with some items
 * replaced by `reject`). A batch is never emitted, so never acknowledged, before its write
 * resolved.
 *
 * Retries are bounded only for a batch that fails while the stores answer: after
 * `maxAttempts` failures it is bisected (each half gets two attempts) down to the single
 * items that still fail, and those are replaced by `reject(item, cause)`. A store that is
 * down never sends anything to the dead-letter queue: it is waited for.
 */
export function writeBatches<T>(write: (batch: T[]) => Promise<void>, opts: WriteBatchesOptions<T>): OperatorFunction<T[], T[]> {
  const scheduler = opts.scheduler ?? asyncScheduler;
  const sleep = (ms: number) => firstValueFrom(timer(ms, scheduler));
  const bounded = opts.maxAttempts !== undefined && opts.healthy !== undefined && opts.reject !== undefined;
  const isolateAttempts = 2;

  async function attempt(items: T[], budget: number): Promise<T[]> {
    for (let n = 1; ; n++) {
      try {
        await write(items);
        return items;
      } catch (err) {
        opts.onError?.(err, items, n);
        if (bounded && n >= budget && (await opts.healthy!().catch(() => false))) {
          if (items.length === 1) return attempt([opts.reject!(items[0]!, err)], Infinity);
          const mid = items.length >>> 1;
          // Halves one after the other: the good half is written while the other is searched.
          const left = await attempt(items.slice(0, mid), isolateAttempts);
          const right = await attempt(items.slice(mid), isolateAttempts);
          return [...left, ...right];
        }
        await sleep(Math.min(opts.backoffBaseMs * 2 ** (n - 1), opts.backoffMaxMs));
      }
    }
  }

  return mergeMap(
    (items: T[]) =>
      from(
        attempt(items, bounded ? opts.maxAttempts! : Infinity).then((out) => {
          // The same array goes on (callers key per-batch data on it), with rejects in place.
          if (out !== items) items.splice(0, items.length, ...out);
          return items;
        }),
      ),
    opts.concurrency,
  );
}
