import { api, describe, type ExpiringItem, type Overview, type Tier } from '../api.js';
import { h, replace, time, type Child } from '../dom.js';
import { durationWords, formatBytes, formatCount, formatDate, formatEta, formatPercent, parseSourceName, plural, reasonWords, relativeTime, sourceHref } from '../format.js';
import { poller, REFRESH_BUSY_MS, REFRESH_MS } from '../poller.js';
import { errorBox, focusHeading, tierBadge, type View } from './widgets.js';

const TIERS: Tier[] = ['hot', 'restoring', 'demoting', 'expired'];
// Sources listed per expiry window; the count says how many there are in all.
const EXPIRING_SHOWN = 10;
const TRANSITIONS_SHOWN = 12;

/** A source name (`campaign:A`) as a link to its page, showing its name when it has one. */
function sourceLink(source: string, name: string | null): Child {
  const ref = parseSourceName(source);
  if (!ref) return source;
  return [h('a', { href: sourceHref(ref.kind, ref.id) }, name || ref.id), ' ', h('span', { class: 'sub' }, name ? source : ref.kind)];
}

/** A table of tiers by kind, each count linking to the sources page filtered so. */
function tierTable(o: Overview): HTMLElement {
  const link = (n: number, query: string) => (n ? h('a', { href: `#/?${query}` }, formatCount(n)) : '0');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'overview-tiers' },
    h('caption', null, `${plural(o.sources.total, 'source')} by tier`),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Tier'), ['Campaigns', 'Canvases', 'All'].map((c) => h('th', { scope: 'col', class: 'num' }, c)))),
    h('tbody', null, TIERS.map((t) => h('tr', { 'data-tier': t },
      h('th', { scope: 'row' }, tierBadge(t)),
      h('td', { class: 'num' }, link(o.sources.kinds.campaign[t], `tier=${t}&kind=campaign`)),
      h('td', { class: 'num' }, link(o.sources.kinds.canvas[t], `tier=${t}&kind=canvas`)),
      h('td', { class: 'num' }, link(o.sources.tiers[t], `tier=${t}`)),
    ))),
  ));
}

const STORE_NAMES: Record<string, string> = { redis: 'Redis (the real-time index)' };

function hotSection(o: Overview, now: number): Child[] {
  const m = o.hot;
  const away = o.unavailable.find((u) => u.store === 'redis');
  if (!m) {
    return [h('p', { id: 'hot-unavailable', class: 'warning' }, `Redis did not answer${away ? ` (${away.message})` : ''}: the hot tier's memory and largest sources are not known right now. The rest of this page does not need Redis.`)];
  }
  const partly = m.measuredSources < m.sources;
  return [
    h('p', { id: 'hot-memory', class: 'figure' },
      h('span', { class: 'big' }, formatBytes(m.memoryBytes)), ' of Redis memory for ', plural(m.sources, 'hot source'),
      ` (${formatCount(m.users)} users over all of them).`),
    h('p', { class: 'sub' }, partly
      ? `Measured for the ${formatCount(m.measuredSources)} largest sources, estimated for the other ${formatCount(m.sources - m.measuredSources)} from their users. `
      : 'Measured with Redis MEMORY USAGE (sampled). ',
    'Measured ', time(m.measuredAt, relativeTime(m.measuredAt, now, true)), '.',
    away ? ` Redis did not answer since (${away.message}): these are the last figures it gave.` : ''),
    m.top.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'overview-top' },
        h('caption', null, 'Largest hot sources'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Source'), h('th', { scope: 'col', class: 'num' }, 'Memory'), h('th', { scope: 'col', class: 'num' }, 'Users'))),
        h('tbody', null, m.top.map((t) => h('tr', { 'data-source': t.source },
          h('th', { scope: 'row' }, sourceLink(t.source, t.name)),
          h('td', { class: 'num' }, formatBytes(t.memoryBytes)),
          h('td', { class: 'num' }, formatCount(t.users)),
        ))),
      ))
      : h('p', null, 'No source is hot.'),
  ];
}

function restoringSection(o: Overview, now: number): Child {
  if (!o.restoring.length) return h('p', null, 'No restore is running.');
  return h('ul', { class: 'restores' }, o.restoring.map((r, i) => h('li', { 'data-source': r.source },
    sourceLink(r.source, r.name),
    h('div', { class: 'progress' },
      h('progress', { max: 100, value: Math.round(r.progress * 100), 'aria-labelledby': `restore-${i}`, 'aria-valuetext': formatPercent(r.progress) }),
      h('span', { id: `restore-${i}` }, `Restore of ${r.source}: ${formatPercent(r.progress)}`),
      h('span', { class: 'sub restore-eta' }, typeof r.etaSeconds === 'number' ? `about ${formatEta(r.etaSeconds)} left` : 'estimating the time left…'),
      r.startedAt ? h('span', { class: 'sub' }, 'started ', time(r.startedAt, relativeTime(r.startedAt, now, true))) : null,
    ),
  )));
}

function expiringList(id: string, title: string, total: number, items: ExpiringItem[] | null, now: number): HTMLElement {
  return h('section', { class: 'expiring', 'aria-labelledby': id },
    h('h3', { id }, `${title}: ${plural(total, 'source')}`),
    items === null ? h('p', { class: 'sub' }, 'The list did not load; the count is current.')
    : items.length
      ? h('ul', null, items.map((e) => h('li', { 'data-source': e.source },
        sourceLink(e.source, null), ' — expires ', time(e.expiresAt, relativeTime(e.expiresAt, now)),
        e.tags.length ? h('span', { class: 'tags' }, e.tags.map((t) => h('span', { class: 'tag' }, t))) : null)))
      : h('p', null, 'None.'),
    items !== null && total > items.length ? h('p', { class: 'sub' }, `and ${formatCount(total - items.length)} more (GET /v1/expiring lists them all).`) : null,
  );
}

function transitionsSection(o: Overview, now: number): Child {
  if (!o.transitions.length) return h('p', null, 'No tier change yet.');
  return h('ol', { class: 'timeline recent' }, o.transitions.map((t) => h('li', null,
    tierBadge(t.tier), ' ', sourceLink(t.source, t.name), ' ',
    time(t.at, formatDate(t.at)), h('span', { class: 'sub' }, ` (${relativeTime(t.at, now)})`),
    h('p', { class: 'reason' }, reasonWords(t.reason)),
  )));
}

/** "Stopped sources stay hot for 3 months …": the configured retention, in words. */
function retentionText(o: Overview): string {
  const r = o.retention.expireAfter;
  return `Stopped sources that no active retargeting filter uses stay in the real-time index for ${r ? durationWords(r) : 'the configured retention (TIER_EXPIRE_AFTER)'} after they stop, then move to long-term storage.`;
}

/** The landing summary: sources per tier, the hot tier's memory, restores, expiries to come, recent tier changes. */
export function overviewView(root: HTMLElement): View {
  const errors = errorBox();
  const body = h('div', { class: 'overview', 'aria-busy': 'true' }, h('p', null, 'Loading…'));
  let busy = false;
  let first = true;

  const section = (id: string, title: string, ...children: Child[]) =>
    h('section', { 'aria-labelledby': id, class: 'panel' }, h('h2', { id }, title), ...children);

  const poll = poller(async () => {
    try {
      // The lists are extras: the overview shows without them.
      const [o, week, month] = await Promise.all([
        api.overview(TRANSITIONS_SHOWN),
        api.expiring('P7D', EXPIRING_SHOWN).catch(() => null),
        api.expiring('P30D', EXPIRING_SHOWN).catch(() => null),
      ]);
      busy = o.restoring.length > 0 || o.sources.tiers.demoting > 0;
      const now = Date.now();
      errors.show(null);
      replace(body,
        o.unavailable.length
          ? h('p', { id: 'overview-partial', class: 'warning', role: 'status' },
            `Shown without ${o.unavailable.map((u) => STORE_NAMES[u.store] ?? u.store).join(' and ')}, which did not answer: `,
            'the parts it holds are missing or from its last answer. Everything else is current.')
          : null,
        section('tiers-title', 'Sources per tier', tierTable(o)),
        section('hot-title', 'Hot tier (Redis)', ...hotSection(o, now)),
        section('restoring-title', 'Restoring now', restoringSection(o, now)),
        section('expiring-title', 'Expiring soon',
          h('p', { id: 'retention', class: 'sub' }, retentionText(o)),
          h('div', { class: 'columns' },
            expiringList('exp7-title', 'In the next 7 days', o.expiring.P7D, week?.items ?? null, now),
            expiringList('exp30-title', 'In the next 30 days', o.expiring.P30D, month?.items ?? null, now),
          ),
        ),
        section('transitions-title', 'Recent tier changes', transitionsSection(o, now)),
      );
    } catch (err) {
      errors.show(describe(err, 'load the overview'));
      // No "Loading…" beside the error: the last good overview stays, or nothing.
      if (first) replace(body);
    } finally {
      body.removeAttribute('aria-busy');
      if (first) {
        first = false;
        focusHeading(root);
      }
    }
  }, () => (busy ? REFRESH_BUSY_MS : REFRESH_MS));

  replace(root,
    h('h1', null, 'Overview'),
    h('p', { class: 'lede' }, 'Where the interaction data of every campaign and canvas lives, what the real-time index costs, and what changes next.'),
    errors.el,
    body,
  );
  return { dispose: () => poll.stop() };
}
