import type { Tier } from '../api.js';
import { h } from '../dom.js';

/** A mounted page; the router disposes it before mounting the next. */
export interface View {
  dispose(): void;
}

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

const TIER_LABEL: Record<Tier, string> = {
  hot: 'Hot',
  demoting: 'Demoting',
  expired: 'Expired',
  restoring: 'Restoring',
};

/** The tier as a badge: a word, with colour as a second cue only. */
export function tierBadge(tier: Tier): HTMLElement {
  return h('span', { class: `badge tier-${tier}` }, TIER_LABEL[tier] ?? tier);
}

/** An error box (role=alert) whose text is replaced; empty text hides it. */
export function errorBox(): { el: HTMLElement; show(text: string | null): void } {
  const el = h('div', { class: 'error', role: 'alert', hidden: true });
  return {
    el,
    show(text) {
      if ((el.textContent || null) === text) return; // do not re-announce the same error each refresh
      el.textContent = text ?? '';
      el.hidden = !text;
    },
  };
}

/** Moves focus to the page's heading after navigation, so keyboard and screen-reader users start there. */
export function focusHeading(root: HTMLElement): void {
  const h1 = root.querySelector('h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: false });
  }
}
