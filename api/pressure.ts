import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * Watches how long send-time lookups take in this API process, and how late its event loop
 * runs: `take()` returns the worst of both since the previous call, in ms. The composition
 * root asks every 100 ms and, above the target, tells ingest to yield (core/pressure.ts).
 */
export function createLookupWatch() {
  let worst = 0;
  const loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  return {
    /** A lookup's duration, ms. */
    observe(ms: number): void {
      if (ms > worst) worst = ms;
    },
    take(): number {
      // The loop delay includes the 5 ms resolution's own timer: only what is beyond it counts.
      const lag = Math.max(0, loop.max / 1e6 - 5);
      const w = Math.max(worst, lag);
      worst = 0;
      loop.reset();
      return w;
    },
    stop(): void {
      loop.disable();
    },
  };
}

export type LookupWatch = ReturnType<typeof createLookupWatch>;
