import type { Tier } from '../api.js';
import { h } from '../dom.js';

/** A mounted page; the router disposes it before mounting the next. */
export interface View {
  dispose(): void;
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
