import type { SchedulerLike } from 'rxjs';

/** A renewal started by `renewWhile`. */
export interface Renewal {
  /** Stops it: no call starts after this (one already running finishes). */
  stop(): void;
  /** True once stopped, by `stop()` or by `renew` answering false. */
  readonly stopped: boolean;
}

/**
 * Calls `renew` every `everyMs` until stopped: the one way a lease, a claim or a deadline is
 * kept alive while work runs (tier demotions, restores and rebuilds, erasures, the ingest lease,
 * the ack deadlines of batches being written). Scheduled on `scheduler` when one is given (virtual
 * time in tests), otherwise on Node timers that do not keep the process alive.
 *
 * A call still running when the next is due is not doubled (a renewal stalled on a busy store
 * does not pile up more); `renew` answering false stops the renewal (the lease is gone); a
 * rejection is `onError`'s (default: ignored, the next call tries again).
 */
export function renewWhile(
  scheduler: SchedulerLike | undefined,
  everyMs: number,
  renew: () => unknown,
  onError: (err: unknown) => void = () => undefined,
): Renewal {
  let stopped = false;
  let busy = false;
  let cancel = () => {};
  const tick = () => {
    if (stopped) return;
    if (!busy) {
      busy = true;
      void (async () => {
        try {
          if ((await renew()) === false) stop();
        } catch (err) {
          onError(err);
        } finally {
          busy = false;
        }
      })();
    }
    arm();
  };
  const arm = () => {
    if (stopped) return;
    if (scheduler) {
      const sub = scheduler.schedule(tick, everyMs);
      cancel = () => sub.unsubscribe();
    } else {
      const t = setTimeout(tick, everyMs);
      t.unref();
      cancel = () => clearTimeout(t);
    }
  };
  const stop = () => {
    stopped = true;
    cancel();
  };
  arm();
  return {
    stop,
    get stopped() {
      return stopped;
    },
  };
}
