import { api, ApiFailure, describe, type ExplainNode, type FilterDoc, type UserInteractions } from '../api.js';
import { announce, h, replace, time, type Child } from '../dom.js';
import { formatDate, parseSourceName, plural, relativeTime, sourceHref } from '../format.js';
import { REFRESH_BUSY_MS } from '../poller.js';
import { confirmAction, errorBox, focusHeading, tierBadge, type View } from './widgets.js';

/** Sources looked at when the operator names none: the first hot ones (the API takes 50 a call). */
const DEFAULT_SOURCES = 50;

type Source = UserInteractions['sources'][number];

/** "send 26 Nov 2026, 14:05 (3 hours ago)" for each event type the user has. */
function latestList(latest: Record<string, string>, now: number): Child {
  const entries = Object.entries(latest).sort((a, b) => (a[1] < b[1] ? 1 : -1));
  return h('ul', { class: 'latest' }, entries.map(([type, at]) => h('li', null, h('strong', null, type), ' ', time(at, formatDate(at)), h('span', { class: 'sub' }, ` (${relativeTime(at, now, true)})`))));
}

function sourceCell(name: string): Child {
  const ref = parseSourceName(name);
  return ref ? h('a', { href: sourceHref(ref.kind, ref.id) }, name) : name;
}

/** One node of an explanation: matched or not, and for a leaf what was found, in which window, from where. */
function explainNode(n: ExplainNode): HTMLElement {
  const kids = n.and ?? n.or ?? (n.not ? [n.not] : []);
  const what = n.and ? 'all of' : n.or ? 'any of' : n.not ? 'not' : null;
  const facts: string[] = [];
  if (n.leaf) {
    if (n.count !== undefined) facts.push(`${plural(n.count, 'event')} in the window`);
    else facts.push(n.time ? `latest ${formatDate(n.time)}` : 'no such event');
    const w = n.window;
    if (w && (w.after || w.before)) facts.push(`window ${w.after ? `from ${formatDate(w.after)}` : ''}${w.after && w.before ? ' ' : ''}${w.before ? `until ${formatDate(w.before)}` : ''}`);
    if (n.sources) facts.push(`sources ${n.sources.join(', ') || 'none'}`);
    if (n.servedFrom) facts.push(n.servedFrom === 'history' ? 'from history' : 'from the real-time index');
  }
  return h('li', null,
    h('span', { class: n.matched ? 'yes' : 'no' }, n.matched ? 'matched' : 'not matched'), ' ',
    what ? h('strong', null, what) : n.leaf ? h('code', null, JSON.stringify(n.leaf)) : null,
    facts.length ? ` — ${facts.join('; ')}` : '',
    kids.length ? h('ul', null, kids.map(explainNode)) : null,
  );
}

/**
 * A user: their latest interactions per source (GET /v1/users/:id/interactions), the registered
 * filters they match and why (when this tierstream has those routes), and their erasure.
 */
export function userView(root: HTMLElement, userId: string | undefined, params: URLSearchParams): View {
  let disposed = false;
  const errors = errorBox();
  const eraseErrors = errorBox();
  const idInput = h('input', { id: 'user-id', name: 'user', type: 'text', autocomplete: 'off', spellcheck: 'false', value: userId ?? '', maxlength: 256 });
  const sourcesInput = h('input', { id: 'user-sources', name: 'sources', type: 'text', autocomplete: 'off', spellcheck: 'false', value: params.get('sources') ?? '', 'aria-describedby': 'user-sources-help' });
  const history = h('input', { id: 'user-history', name: 'history', type: 'checkbox', checked: params.get('from') === 'history' });
  const results = h('section', { id: 'user-interactions', 'aria-labelledby': 'user-int-title', hidden: !userId });
  const matched = h('section', { id: 'user-filters', 'aria-labelledby': 'user-filters-title', hidden: true });
  const explain = h('section', { id: 'user-explain', 'aria-labelledby': 'user-explain-title', hidden: true });
  const erased = h('p', { id: 'user-erased', class: 'result', role: 'status' });

  const form = h('form', {
    class: 'filters', role: 'search', 'aria-label': 'Look a user up',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      const id = idInput.value.trim();
      if (!id) return idInput.focus();
      const p = new URLSearchParams();
      if (sourcesInput.value.trim()) p.set('sources', sourcesInput.value.trim());
      if (history.checked) p.set('from', 'history');
      const next = `#/users/${encodeURIComponent(id)}${p.size ? `?${p}` : ''}`;
      if (location.hash === next) void load();
      else location.hash = next;
    },
  },
  h('div', { class: 'field' }, h('label', { for: 'user-id' }, 'User id'), idInput),
  h('div', { class: 'field wide' }, h('label', { for: 'user-sources' }, 'Sources'), sourcesInput,
    h('span', { id: 'user-sources-help', class: 'sub' }, `campaign:A, canvas:C… Empty: the first ${DEFAULT_SOURCES} hot sources.`)),
  h('div', { class: 'field check' }, history, h('label', { for: 'user-history' }, 'Ask history (answers for expired sources too)')),
  h('div', { class: 'field actions' }, h('button', { type: 'submit' }, 'Look up')),
  );

  async function sourcesToAsk(): Promise<string[]> {
    const named = sourcesInput.value.split(/[\s,]+/).filter(Boolean);
    if (named.length) return named;
    const page = await api.sources({ tier: history.checked ? undefined : 'hot', limit: DEFAULT_SOURCES });
    return page.items.map((s) => `${s.kind}:${s.id}`);
  }

  async function load(): Promise<void> {
    if (!userId) return;
    errors.show(null);
    results.hidden = false;
    replace(results, h('h2', { id: 'user-int-title' }, 'Interactions'), h('p', null, 'Loading…'));
    try {
      const names = await sourcesToAsk();
      if (disposed) return;
      if (!names.length) {
        replace(results, h('h2', { id: 'user-int-title' }, 'Interactions'), h('p', null, 'No source to look in: no campaign or canvas is hot. Name sources above, or ask history.'));
        return;
      }
      const answer = await api.interactions(userId, names, history.checked);
      if (disposed) return;
      const now = Date.now();
      const had = (s: Source) => Object.keys(s.latest ?? {}).length > 0;
      const found = answer.sources.filter(had);
      const cold = answer.sources.filter((s) => s.tier !== 'hot' && s.latest === undefined);
      replace(results,
        h('h2', { id: 'user-int-title' }, 'Interactions'),
        h('p', { class: 'sub' }, `Looked in ${plural(names.length, 'source')}, `, answer.servedFrom === 'history' ? 'from history (long-term storage).' : 'from the real-time index.'),
        found.length
          ? h('div', { class: 'table-wrap' }, h('table', { class: 'user-sources' },
            h('caption', null, `The latest interaction of each type, in ${plural(found.length, 'source')}`),
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Source'), h('th', { scope: 'col' }, 'Tier'), h('th', { scope: 'col' }, 'Latest'))),
            h('tbody', null, found.map((s) => h('tr', { 'data-source': s.source },
              h('th', { scope: 'row' }, sourceCell(s.source)),
              h('td', { 'data-label': 'Tier' }, s.tier ? tierBadge(s.tier) : 'unknown'),
              h('td', { 'data-label': 'Latest' }, latestList(s.latest ?? {}, now)),
            ))),
          ))
          : h('p', { id: 'user-none' }, `No interaction of ${userId} in these sources.`),
        cold.length && !history.checked
          ? h('p', { class: 'sub' }, `${plural(cold.length, 'source is', 'sources are')} not hot and were not looked in: `, cold.map((s, i) => [i ? ', ' : '', sourceCell(s.source)]), '. Ask history to include them.')
          : null,
      );
    } catch (err) {
      replace(results, h('h2', { id: 'user-int-title' }, 'Interactions'));
      errors.show(describe(err, `look up user ${userId}`));
    }
  }

  /** "Filters matched": GET /v1/users/:id/filters. */
  async function loadMatched(): Promise<void> {
    if (!userId) return;
    matched.hidden = false;
    try {
      const { matched: ids, skipped } = await api.userFilters(userId);
      if (disposed) return;
      replace(matched, h('h2', { id: 'user-filters-title' }, 'Filters matched'),
        ids.length
          ? h('ul', { class: 'pins' }, ids.map((f) => h('li', null, h('a', { href: `#/filters/${encodeURIComponent(f)}` }, f))))
          : h('p', null, `${userId} matches no registered filter.`),
        skipped.length
          ? h('p', { class: 'sub' }, `Not evaluated (a source is not in the real-time index; explain them from history): ${skipped.map((s) => s.id).join(', ')}.`)
          : null);
    } catch (err) {
      if (disposed) return;
      replace(matched, h('h2', { id: 'user-filters-title' }, 'Filters matched'), h('p', { class: 'error', role: 'alert' }, describe(err, 'load the filters this user matches')));
    }
  }

  /** "Explain": why the user matches a registered filter or not (POST /v1/retargeting/explain). */
  async function setUpExplain(): Promise<void> {
    if (!userId) return;
    let docs: FilterDoc[] = [];
    try {
      docs = (await api.filters()).sort((a, b) => (a.id < b.id ? -1 : 1));
    } catch {
      /* the picker stays empty; the lookup below says why */
    }
    if (disposed) return;
    const picker = h('select', { id: 'explain-filter', name: 'filter' }, docs.map((d) => h('option', { value: d.id }, d.id)));
    const out = h('div', { id: 'explain-result', class: 'explain', 'aria-live': 'polite' });
    explain.hidden = false;
    replace(explain,
      h('h2', { id: 'user-explain-title' }, 'Explain'),
      docs.length
        ? h('form', { class: 'inline-form', 'aria-label': 'Explain a filter for this user', onsubmit: async (ev: Event) => {
          ev.preventDefault();
          replace(out, h('p', null, 'Asking…'));
          try {
            const answer = await api.explain(picker.value, userId, history.checked);
            replace(out,
              h('p', null, `${userId} `, h('strong', null, answer.matched ? 'matches' : 'does not match'), ` filter ${picker.value}`,
                answer.inUniverse ? '.' : ` (they have no event of the sources it names, so no "not" can match them).`),
              h('ul', null, explainNode(answer.tree)));
          } catch (err) {
            replace(out, h('p', { class: 'error', role: 'alert' }, err instanceof ApiFailure ? describe(err, `explain filter ${picker.value}`) : String(err)));
          }
        } }, h('div', { class: 'field' }, h('label', { for: 'explain-filter' }, 'Registered filter'), picker), h('button', { type: 'submit', class: 'secondary' }, 'Explain'))
        : h('p', null, 'No filter is registered to explain.'),
      out,
    );
  }

  async function erase(): Promise<void> {
    if (!userId) return;
    eraseErrors.show(null);
    const ok = await confirmAction({
      title: `Erase user ${userId}?`,
      body: [h('p', null, `Every event of ${userId} leaves every answer and history, for good: redeliveries, replays, restores and rebuilds never bring them back. This cannot be undone.`)],
      confirm: 'Erase for good',
      typed: { label: `Type the user id (${userId}) to confirm`, value: userId },
      danger: true,
    });
    if (!ok) return;
    try {
      const e = await api.erase(userId);
      const said = (status: string) => {
        erased.textContent = `Erasure ${e.id} of ${e.userId} requested ${formatDate(e.requestedAt)}: ${status === 'done' ? 'done, the user is gone from every answer' : 'pending, running in the background'}.`;
      };
      said(e.status);
      announce(`Erasure of ${userId} requested.`);
      // Followed until done (GET /v1/erasures/:id), while the page is open.
      let status: string = e.status;
      while (status !== 'done' && !disposed) {
        await new Promise((r) => setTimeout(r, REFRESH_BUSY_MS));
        try {
          status = (await api.erasure(e.id)).status;
        } catch {
          continue; // asked again at the next turn
        }
        if (!disposed) said(status);
      }
      if (status === 'done' && !disposed) announce(`Erasure of ${userId} done.`);
    } catch (err) {
      eraseErrors.show(describe(err, `erase user ${userId}`));
    }
  }

  replace(root,
    userId ? h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/users' }, 'Users'), ' › ', userId) : null,
    h('h1', null, userId ? `User ${userId}` : 'Users'),
    h('p', { class: 'lede' }, 'Look a user up: their latest interactions per campaign and canvas, the registered filters they match, and their erasure.'),
    form,
    errors.el,
    results,
    matched,
    explain,
    userId
      ? h('section', { 'aria-labelledby': 'user-erase-title' },
        h('h2', { id: 'user-erase-title' }, 'Erasure'),
        h('p', null, 'Erasing a user removes their events from the real-time index and from history, for good; an erasure runs in the background and can be followed with GET /v1/erasures/:id.'),
        h('button', { type: 'button', class: 'danger', 'data-focus': 'erase', onclick: () => void erase() }, `Erase ${userId}…`),
        eraseErrors.el,
        erased)
      : null,
  );
  focusHeading(root);
  void load();
  void loadMatched();
  void setUpExplain();
  return { dispose: () => (disposed = true) };
}
