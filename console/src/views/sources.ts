import { api, describe, type Kind, type SourceState } from '../api.js';
import { announce, h, replace, time, type Child } from '../dom.js';
import { formatCount, formatDate, formatEta, formatPercent, plural, relativeTime, sourceHref } from '../format.js';
import { poller, REFRESH_BUSY_MS, REFRESH_MS } from '../poller.js';
import { confirmAction, errorBox, focusHeading, tierBadge, type View } from './widgets.js';

// Every event type: a user with any of them in a tagged source is one of its users.
const EVENT_TYPES = ['send', 'delivery', 'open', 'click', 'conversion', 'bounce', 'unsubscribe', 'spam', 'control', 'machine_open'];


interface Query {
  q: string;
  tier: string;
  status: string;
  kind: string;
  tag: string;
  size: number;
}

/** Where a page starts: the cursor the API gave for it (null: the first page). */
type PageStart = string | null;

const SIZES = [25, 50, 100];
const MAX_IDS_PER_CALL = 1_000;

const nameOf = (s: { kind: Kind; id: string }) => `${s.kind}:${s.id}`;

function readQuery(params: URLSearchParams): Query {
  const size = Number(params.get('size'));
  return {
    q: params.get('q') ?? '',
    tier: params.get('tier') ?? '',
    status: params.get('status') ?? '',
    kind: params.get('kind') ?? '',
    tag: params.get('tag') ?? '',
    // Any page size the API accepts may come in the URL; the menu offers the usual ones.
    size: Number.isInteger(size) && size >= 1 && size <= 500 ? size : SIZES[0]!,
  };
}

function writeQuery(q: Query): void {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== '' && !(k === 'size' && v === SIZES[0])) p.set(k, String(v));
  const s = p.toString();
  // replaceState, not a hash change: the view stays mounted.
  history.replaceState(null, '', `#/${s ? `?${s}` : ''}`);
}

/** Loads one page of campaigns and canvases (campaigns first, each kind by id), searched by the API. */
async function loadPage(start: PageStart, q: Query): Promise<{ rows: SourceState[]; next: PageStart | null }> {
  const res = await api.sources({ kind: q.kind, tier: q.tier, status: q.status, tag: q.tag, q: q.q, limit: q.size, cursor: start });
  return { rows: res.items, next: res.cursor };
}

/** The tier, and while restoring how far along and how long it is thought to take. */
function tierCell(s: SourceState): Child {
  if (s.tier !== 'restoring' || !s.restore) return tierBadge(s.tier);
  const eta = s.restore.etaSeconds;
  return [tierBadge(s.tier), h('span', { class: 'sub restore-state' }, formatPercent(s.restore.progress),
    typeof eta === 'number' ? `, about ${formatEta(eta)} left` : '')];
}

/** "in 12 days" for a hot source with an expiry; an expired source's past due date is not news. */
function expiresCell(s: SourceState, now: number): HTMLElement | string {
  if (s.tier !== 'hot') return '—';
  if (s.expiresAt === null) return s.status === 'active' ? 'not while active' : s.pinnedBy.length ? 'not while pinned' : '—';
  const rel = relativeTime(s.expiresAt, now);
  return time(s.expiresAt, Date.parse(s.expiresAt) <= now ? `due (${rel})` : rel);
}

/** Campaigns and canvases in one table: filters, search, paging, refresh, bulk restore. */
export function sourcesView(root: HTMLElement, params: URLSearchParams): View {
  let q = readQuery(params);
  const pages: PageStart[] = [null];
  let next: PageStart | null = null;
  let rows: SourceState[] = [];
  let loaded = false;
  const selected = new Set<string>();
  let autoRefresh = true;
  let generation = 0;
  const errors = errorBox(); // loading the page: cleared by the next good refresh
  const actionErrors = errorBox(); // a bulk restore: kept until the next one
  // The sources a bulk restore started: its message stays until they are all hot.
  let watched: string[] = [];

  /**
   * After a bulk restore: once none of the sources it started is restoring or demoting, its
   * message goes. Two listings (GET /v1/sources?tier=…) per refresh, however many it started.
   */
  async function checkWatched(): Promise<void> {
    if (!watched.length) return;
    const names = watched;
    const busy = new Set<string>();
    for (const tier of ['restoring', 'demoting']) {
      let cursor: string | null = null;
      do {
        const page = await api.sources({ tier, limit: 500, cursor });
        for (const s of page.items) busy.add(nameOf(s));
        cursor = page.cursor;
      } while (cursor);
    }
    if (watched === names && !names.some((n) => busy.has(n))) {
      watched = [];
      bulkResult.textContent = '';
      announce(`Restore finished: ${plural(names.length, 'source is', 'sources are')} hot again.`);
    }
  }

  /** Every source with `tag` (GET /v1/sources pages). */
  async function tagged(tag: string): Promise<SourceState[]> {
    const out: SourceState[] = [];
    let cursor: string | null = null;
    do {
      const page = await api.sources({ tag, limit: 500, cursor });
      out.push(...page.items);
      cursor = page.cursor;
    } while (cursor);
    return out;
  }

  /** Asks before restoring every source with `tag`, naming how many sources and users. */
  async function confirmTag(tag: string): Promise<boolean> {
    bulkResult.textContent = `Counting the sources tagged “${tag}”…`;
    const sources = await tagged(tag);
    const cold = sources.filter((s) => s.tier !== 'hot');
    if (cold.length === 0) {
      bulkResult.textContent = sources.length ? `Nothing to restore: every source tagged “${tag}” is hot.` : `Nothing to restore: no source has the tag “${tag}”.`;
      return false;
    }
    let users: number | null = null;
    try {
      // Users with any interaction in a tagged source, from history: what a restore brings back.
      users = (await api.count({ filter: { or: EVENT_TYPES.map((event) => ({ tag, event })) } }, 'history')).count;
    } catch {
      users = null; // the count is a courtesy; the confirmation does without it
    }
    bulkResult.textContent = '';
    const kinds = (k: Kind) => cold.filter((s) => s.kind === k).length;
    const what = [kinds('campaign') ? plural(kinds('campaign'), 'campaign') : '', kinds('canvas') ? plural(kinds('canvas'), 'canvas', 'canvases') : ''].filter(Boolean).join(' and ');
    return confirmAction({
      title: `Restore ${plural(cold.length, 'source')} tagged “${tag}”?`,
      body: [
        h('p', { id: 'confirm-what' }, `${what} tagged “${tag}” ${cold.length === 1 ? 'is' : 'are'} not hot`,
          users === null ? '.' : `; ${plural(users, 'user has', 'users have')} interactions with the tagged sources.`,
          sources.length > cold.length ? ` ${plural(sources.length - cold.length, 'other tagged source is', 'other tagged sources are')} hot already.` : ''),
        h('p', null, 'Restoring copies their interaction data from long-term storage back into the real-time index (Redis memory): seconds to minutes each.'),
      ],
      confirm: `Restore ${plural(cold.length, 'source')}`,
    });
  }

  const field = (label: string, control: HTMLElement) => h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
  const select = (id: string, value: string, options: [string, string][]) =>
    h('select', { id, name: id, onchange: () => form.requestSubmit() }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));

  const search = h('input', { id: 'f-q', name: 'q', type: 'search', value: q.q, placeholder: 'campaign id or name', autocomplete: 'off' });
  const tag = h('input', { id: 'f-tag', name: 'tag', type: 'text', value: q.tag, autocomplete: 'off', spellcheck: 'false' });
  const tierSel = select('f-tier', q.tier, [['', 'Any tier'], ['hot', 'Hot'], ['restoring', 'Restoring'], ['demoting', 'Demoting'], ['expired', 'Expired']]);
  const statusSel = select('f-status', q.status, [['', 'Any status'], ['active', 'Active'], ['stopped', 'Stopped']]);
  const kindSel = select('f-kind', q.kind, [['', 'Campaigns and canvases'], ['campaign', 'Campaigns'], ['canvas', 'Canvases']]);
  const sizes = SIZES.includes(q.size) ? SIZES : [...SIZES, q.size].sort((a, b) => a - b);
  const sizeSel = select('f-size', String(q.size), sizes.map((n) => [String(n), String(n)]));

  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Filter sources',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        q = {
          q: search.value.trim(),
          tag: tag.value.trim(),
          tier: tierSel.value,
          status: statusSel.value,
          kind: kindSel.value,
          size: Number(sizeSel.value),
        };
        writeQuery(q);
        pages.splice(0, pages.length, null);
        renderBulk();
        poll.now();
      },
    },
    field('Search by id or name', search),
    field('Tier', tierSel),
    field('Status', statusSel),
    field('Kind', kindSel),
    field('Tag', tag),
    field('Rows per page', sizeSel),
    h('div', { class: 'field actions' },
      h('button', { type: 'submit' }, 'Apply'),
      h('button', {
        type: 'button',
        class: 'secondary',
        onclick: () => {
          search.value = tag.value = '';
          tierSel.value = statusSel.value = kindSel.value = '';
          sizeSel.value = String(SIZES[0]);
          form.requestSubmit();
        },
      }, 'Reset'),
    ),
  );

  const bulk = h('div', { class: 'bulk', role: 'group', 'aria-label': 'Bulk restore' });
  const bulkResult = h('p', { class: 'result', role: 'status' });
  const caption = h('caption');
  const tbody = h('tbody');
  const selectAll = h('input', {
    type: 'checkbox',
    'aria-label': 'Select every source on this page',
    onchange: () => {
      for (const r of rows) selectAll.checked ? selected.add(nameOf(r)) : selected.delete(nameOf(r));
      renderRows();
      renderBulk();
    },
  });
  const table = h(
    'table',
    { class: 'sources' },
    caption,
    h('thead', null, h('tr', null,
      h('th', { scope: 'col', class: 'select' }, selectAll),
      ['Name', 'Kind', 'Status', 'Tier', 'Stopped at', 'Expires', 'Pinned by', 'Hot users', 'History events'].map((c, i) =>
        h('th', { scope: 'col', class: i >= 7 ? 'num' : undefined }, c)),
    )),
    tbody,
  );
  const tableWrap = h('div', { class: 'table-wrap' }, table);
  const prev = h('button', { type: 'button', class: 'secondary', onclick: () => {
    if (pages.length > 1) pages.pop();
    prev.disabled = nextBtn.disabled = true; // until the page is loaded: a second click must not skip one
    poll.now();
  } }, '← Previous');
  const nextBtn = h('button', { type: 'button', class: 'secondary', onclick: () => {
    if (next) pages.push(next);
    prev.disabled = nextBtn.disabled = true;
    poll.now();
  } }, 'Next →');
  const pageLabel = h('span', { class: 'page' });
  const updated = h('span', { class: 'updated' });
  const refreshBox = h('input', {
    id: 'f-refresh',
    type: 'checkbox',
    checked: true,
    onchange: () => {
      autoRefresh = refreshBox.checked;
      poll.reschedule();
    },
  });

  function renderRows(): void {
    caption.textContent = `Sources, page ${pages.length}${q.q ? ` (matching “${q.q}”)` : ''}`;
    const now = Date.now();
    if (rows.length === 0) {
      const text = !loaded ? 'Loading…' : pages.length > 1 ? 'No more sources.' : 'No campaigns or canvases match.';
      replace(tbody, h('tr', null, h('td', { colspan: 10, class: 'empty' }, text)));
    } else {
      replace(tbody, rows.map((s) => {
        const key = nameOf(s);
        return h('tr', { 'data-source': key, class: selected.has(key) ? 'selected' : undefined },
          h('td', { class: 'select' }, h('input', {
            type: 'checkbox',
            checked: selected.has(key),
            'aria-label': `Select ${s.kind} ${s.name || s.id}`,
            'data-focus': `sel:${key}`,
            onchange: (ev: Event) => {
              (ev.target as HTMLInputElement).checked ? selected.add(key) : selected.delete(key);
              renderRows();
              renderBulk();
            },
          })),
          h('th', { scope: 'row', 'data-label': 'Name' },
            h('a', { href: sourceHref(s.kind, s.id), 'data-focus': `link:${key}` }, s.name || s.id),
            s.name ? h('span', { class: 'sub' }, s.id) : null,
            s.tags?.length ? h('span', { class: 'tags' }, s.tags.map((t) => h('span', { class: 'tag' }, t))) : null),
          h('td', { 'data-label': 'Kind' }, s.kind),
          h('td', { 'data-label': 'Status' }, s.status),
          h('td', { 'data-label': 'Tier' }, tierCell(s)),
          h('td', { 'data-label': 'Stopped at' }, time(s.stoppedAt, formatDate(s.stoppedAt))),
          h('td', { 'data-label': 'Expires' }, expiresCell(s, now)),
          h('td', { 'data-label': 'Pinned by', class: 'ids' }, s.pinnedBy.length
            ? s.pinnedBy.map((f, i) => [i ? ', ' : '', h('a', { href: `#/filters/${encodeURIComponent(f)}` }, f)])
            : '—'),
          h('td', { 'data-label': 'Hot users', class: 'num' }, formatCount(s.counts.hot)),
          h('td', { 'data-label': 'History events', class: 'num' }, formatCount(s.counts.history)),
        );
      }));
    }
    const onPage = rows.filter((r) => selected.has(nameOf(r))).length;
    selectAll.checked = rows.length > 0 && onPage === rows.length;
    selectAll.indeterminate = onPage > 0 && onPage < rows.length;
    prev.disabled = pages.length <= 1;
    nextBtn.disabled = next === null;
    pageLabel.textContent = `Page ${pages.length}`;
  }

  async function bulkRestore(body: { tag: string } | { ids: string[] }, what: string): Promise<void> {
    actionErrors.show(null);
    try {
      if ('tag' in body && !(await confirmTag(body.tag))) return;
      bulkResult.textContent = `Asking to restore ${what}…`;
      const sources: Awaited<ReturnType<typeof api.bulkRestore>>['sources'] = [];
      if ('ids' in body) {
        // The API takes at most 1,000 ids a call; a selection across pages may hold more.
        for (let i = 0; i < body.ids.length; i += MAX_IDS_PER_CALL) {
          sources.push(...(await api.bulkRestore({ ids: body.ids.slice(i, i + MAX_IDS_PER_CALL) })).sources);
        }
      } else sources.push(...(await api.bulkRestore(body)).sources);
      const count = (pred: (s: (typeof sources)[number]) => boolean) => sources.filter(pred).length;
      const restoring = count((s) => s.tier === 'restoring' || s.tier === 'demoting');
      const hot = count((s) => s.tier === 'hot');
      const missing = sources.filter((s) => s.error).map((s) => s.source);
      const parts = [
        `${plural(restoring, 'source')} restoring`,
        hot ? `${plural(hot, 'source was', 'sources were')} already hot` : '',
        missing.length ? `not found: ${missing.join(', ')}` : '',
      ].filter(Boolean);
      bulkResult.textContent = sources.length ? `Restore of ${what}: ${parts.join('; ')}.` : `Nothing to restore: no source has ${what}.`;
      watched = sources.filter((s) => s.tier === 'restoring' || s.tier === 'demoting').map((s) => s.source);
      if ('ids' in body) selected.clear();
      renderRows();
      renderBulk();
      poll.now();
    } catch (err) {
      bulkResult.textContent = '';
      actionErrors.show(describe(err, `restore ${what}`));
    }
  }

  function renderBulk(): void {
    const n = selected.size;
    replace(bulk,
      h('button', {
        type: 'button',
        disabled: n === 0,
        'data-focus': 'bulk-selected',
        onclick: () => void bulkRestore({ ids: [...selected] }, plural(n, 'selected source')),
      }, `Restore selected (${n})`),
      h('button', { type: 'button', class: 'secondary', disabled: n === 0, 'data-focus': 'bulk-clear', onclick: () => {
        selected.clear();
        renderRows();
        renderBulk();
      } }, 'Clear selection'),
      q.tag ? h('button', { type: 'button', 'data-focus': 'bulk-tag', onclick: () => void bulkRestore({ tag: q.tag }, `the tag “${q.tag}”`) }, `Restore every source tagged “${q.tag}”`) : null,
    );
  }

  const poll = poller(async () => {
    const gen = ++generation;
    tableWrap.setAttribute('aria-busy', 'true');
    try {
      const [page] = await Promise.all([loadPage(pages[pages.length - 1]!, q), checkWatched().catch(() => undefined)]);
      if (gen !== generation) return;
      rows = page.rows;
      next = page.next;
      loaded = true;
      errors.show(null);
      renderRows();
      updated.textContent = `Updated ${new Date().toLocaleTimeString('en-GB')}`;
    } catch (err) {
      if (gen === generation) errors.show(describe(err, 'load the sources'));
      prev.disabled = pages.length <= 1;
      nextBtn.disabled = next === null;
    } finally {
      if (gen === generation) tableWrap.removeAttribute('aria-busy');
    }
  }, () => {
    if (!autoRefresh) return null;
    // Faster while a row is changing tier, so a restore is seen to finish.
    return watched.length || rows.some((r) => r.tier === 'restoring' || r.tier === 'demoting') ? REFRESH_BUSY_MS : REFRESH_MS;
  });

  replace(root,
    h('h1', null, 'Sources'),
    h('p', { class: 'lede' }, 'Campaigns and canvases, and where their interaction data lives: hot (real-time index, for retargeting) or expired (long-term storage only).'),
    form,
    errors.el,
    bulk,
    actionErrors.el,
    bulkResult,
    tableWrap,
    h('div', { class: 'pager' },
      h('nav', { 'aria-label': 'Pages' }, prev, pageLabel, nextBtn),
      h('div', { class: 'refresh' }, refreshBox, h('label', { for: 'f-refresh' }, `Refresh by itself (every ${REFRESH_MS / 1000} s; every second while a source changes tier)`), updated),
    ),
  );
  renderBulk();
  renderRows();
  focusHeading(root);
  return { dispose: () => poll.stop() };
}
