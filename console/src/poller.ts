// Periodic refresh of a page: no overlapping runs, paused while the tab is hidden.

/** How often pages refresh by themselves; faster while a tier change is running. */
export const REFRESH_MS = 5_000;
export const REFRESH_BUSY_MS = 1_000;

/**
 * Runs `fn` now and then again `interval()` ms after each run ends (runs never overlap), paused
 * while the tab is hidden. `now()` runs it at once; `stop()` ends it.
 */
export function poller(fn: () => Promise<void>, interval: () => number | null) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let again = false;
  let stopped = false;
  const schedule = () => {
    clearTimeout(timer);
    const ms = interval();
    if (!stopped && ms !== null) timer = setTimeout(tick, ms);
  };
  const tick = async () => {
    if (stopped) return;
    if (document.hidden) return; // visibilitychange runs it again
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await fn();
    } finally {
      running = false;
      if (again) {
        again = false;
        void tick();
      } else schedule();
    }
  };
  const onVisible = () => {
    if (!document.hidden) void tick();
  };
  document.addEventListener('visibilitychange', onVisible);
  void tick();
  return {
    now: () => void tick(),
    /** Re-arms the timer, e.g. after the interval changed. */
    reschedule: () => {
      if (!running) schedule();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}
