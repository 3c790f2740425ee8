import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * Watches how long send-time lookups take in this API process, and how late its event loop
 * runs: `take()` returns the worst of both since the previous call, in ms. The composition
 * root asks every 100 ms and, above the target, tells ingest to yield (core/pressure.ts).
 * The loop's delay counts only if that period or the next one saw lookups (a request that
 * arrived during a stall is read after the timer that measured it): an idle API process waits
 * for a core too on a busy machine, and its signals throttled ingest with no lookup to protect
 * (bench ingest on 2026-12-01: 47 signals in a 500k drain, 487 in a 5M one, none asked for).
 */
export function createLookupWatch() {
  let worst = 0;
  let lookups = 0;
  let carried = 0;
  const loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  return {
    /** A lookup's duration, ms. */
    observe(ms: number): void {
      lookups++;
      if (ms > worst) worst = ms;
    },
    take(): number {
      // The loop delay includes the 5 ms resolution's own timer: only what is beyond it counts.
      const lag = Math.max(0, loop.max / 1e6 - 5);
      const w = lookups > 0 ? Math.max(worst, lag, carried) : 0;
      carried = lookups > 0 ? 0 : lag;
      worst = 0;
      lookups = 0;
      loop.reset();
      return w;
    },
    stop(): void {
      loop.disable();
    },
  };
}

export type LookupWatch = ReturnType<typeof createLookupWatch>;

/** How often an API process looks at its lookups' latency, ms. */
export const PRESSURE_PERIOD_MS = 100;

/**
 * Watches this process's lookups and, every `periodMs` (default PRESSURE_PERIOD_MS), when the
 * worst of them took longer than `targetMs`, calls `signal` with it (the composition root sends
 * it to ingest). Returns the watch, for the app to feed, and the function that stops both.
 */
export function signalPressure(opts: { targetMs: number; periodMs?: number; signal: (worstMs: number) => void }): { watch: LookupWatch; stop: () => void } {
  const watch = createLookupWatch();
  const timer = setInterval(() => {
    const worstMs = watch.take();
    if (worstMs > opts.targetMs) opts.signal(worstMs);
  }, opts.periodMs ?? PRESSURE_PERIOD_MS).unref();
  return {
    watch,
    stop: () => {
      clearInterval(timer);
      watch.stop();
    },
  };
}
