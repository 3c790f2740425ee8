// A tiny element builder: the console is a handful of views, too few to need a framework.

export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (ev: Event) => void;
export type Attrs = Record<string, string | number | boolean | null | undefined | Handler>;

// Set as properties, not attributes: the attribute is only the initial value.
const PROPS = new Set(['value', 'checked', 'indeterminate', 'disabled']);

/**
 * `h('a', {href: '#/'}, 'Sources')`. Attributes with `on` and a function value become event
 * listeners; `true` sets an empty attribute, `false`/`null`/`undefined` leaves it out. Text is
 * always set as text (never parsed as HTML).
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (PROPS.has(k)) (el as unknown as Record<string, unknown>)[k] = v;
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** Appends children to `el`: nested arrays flattened, `null`/`undefined`/`false` skipped, text as text. */
export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/**
 * Replaces the children of `el`, keeping keyboard focus on the element with the same
 * `data-focus` key if there is one (periodic refreshes must not throw the focus away).
 */
export function replace(el: Element, ...children: Child[]): void {
  const active = document.activeElement;
  const key = active instanceof HTMLElement && el.contains(active) ? active.dataset.focus : undefined;
  el.replaceChildren();
  append(el, children);
  if (key) {
    const again = el.querySelector<HTMLElement>(`[data-focus="${CSS.escape(key)}"]`);
    again?.focus();
  }
}

/** Says `text` to screen readers through the page's polite live region. */
export function announce(text: string): void {
  const region = document.getElementById('announce');
  if (!region) return;
  region.textContent = '';
  // A new text node in a later task is what makes screen readers speak a repeated message.
  setTimeout(() => (region.textContent = text), 50);
}

/** `<time datetime>` showing `text`, with the exact UTC time as a tooltip. */
export function time(iso: string | null, text: string): HTMLElement | string {
  if (iso === null) return text;
  return h('time', { datetime: iso, title: iso }, text);
}
