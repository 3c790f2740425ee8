import type { Tier } from '../api.js';
import { h, type Child } from '../dom.js';

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

export interface ConfirmOptions {
  title: string;
  /** What will happen, in words: counts and names. */
  body: Child[];
  confirm: string;
  /** When set, the operator types this exactly before the confirm button works (an erasure's user id). */
  typed?: { label: string; value: string };
  danger?: boolean;
}

/**
 * Asks before an action in a modal <dialog> (focus kept inside, Escape cancels); resolves true
 * when confirmed. The dialog is removed afterwards and focus returns where it was.
 */
export function confirmAction(o: ConfirmOptions): Promise<boolean> {
  const back = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  return new Promise((resolve) => {
    const typed = o.typed ? h('input', { id: 'confirm-typed', type: 'text', autocomplete: 'off', spellcheck: 'false' }) : null;
    const ok = h('button', { type: 'submit', class: o.danger ? 'danger' : undefined, disabled: typed !== null }, o.confirm);
    if (typed) typed.addEventListener('input', () => (ok.disabled = typed.value !== o.typed!.value));
    let answer = false;
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h('form', { method: 'dialog', onsubmit: (ev: Event) => {
        ev.preventDefault();
        if (typed && typed.value !== o.typed!.value) return;
        answer = true;
        dialog.close();
      } },
      h('h2', { id: 'confirm-title' }, o.title),
      h('div', null, ...o.body),
      typed ? h('div', { class: 'field' }, h('label', { for: 'confirm-typed' }, o.typed!.label), typed) : null,
      h('div', { class: 'inline-form' }, ok, h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Cancel'))),
    );
    dialog.addEventListener('close', () => {
      dialog.remove();
      back?.focus();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    (typed ?? ok).focus();
  });
}
