import { api, describe, type FilterDoc, type SourceState, type Tier } from '../api.js';
import { announce, h, replace, time } from '../dom.js';
import { formatDate, parseSourceName, plural, relativeTime, sourceHref } from '../format.js';
import { poller, REFRESH_BUSY_MS, REFRESH_MS } from '../poller.js';
import { confirmAction, errorBox, focusHeading, tierBadge, type View } from './widgets.js';

// Tiers are looked up per pinned source; past this many the list shows names only.
const MAX_TIER_LOOKUPS = 100;

/** The registered retargeting filters (or one of them) and the sources each pins, with their tiers. */
export function filtersView(root: HTMLElement, only?: string): View {
  const errors = errorBox();
  const list = h('div', { class: 'filters-list', 'aria-busy': 'true' }, h('p', null, 'Loading…'));
  let first = true;
  let busy = false; // a pinned source is changing tier
  const actionErrors = errorBox(); // a deletion: kept until the next one
  const done = h('p', { class: 'result', role: 'status' });

  async function remove(d: FilterDoc): Promise<void> {
    actionErrors.show(null);
    const ok = await confirmAction({
      title: `Delete filter ${d.id}?`,
      body: [h('p', null, `Senders looking it up by its id get “no such filter” from then on. `,
        d.sources.length
          ? `It pins ${plural(d.sources.length, 'source')}: unless another filter uses them, their expiry clocks restart, and stopped ones move to long-term storage when the retention has passed.`
          : 'It pins no source.')],
      confirm: 'Delete filter',
      danger: true,
    });
    if (!ok) return;
    try {
      await api.deleteFilter(d.id);
      done.textContent = `Filter ${d.id} deleted.`;
      announce(`Filter ${d.id} deleted.`);
      if (only) location.hash = '#/filters';
      else poll.now();
    } catch (err) {
      actionErrors.show(describe(err, `delete filter ${d.id}`));
    }
  }

  async function tiersOf(docs: FilterDoc[]): Promise<Map<string, Tier | null>> {
    const names = [...new Set(docs.flatMap((d) => d.sources))].slice(0, MAX_TIER_LOOKUPS);
    const tiers = new Map<string, Tier | null>();
    await Promise.all(names.map(async (n) => {
      const ref = parseSourceName(n);
      if (!ref) return;
      try {
        const s: SourceState = await api.source(ref.kind, ref.id);
        tiers.set(n, s.tier);
      } catch {
        tiers.set(n, null); // shown without a badge; the filter itself still lists it
      }
    }));
    return tiers;
  }

  function card(d: FilterDoc, tiers: Map<string, Tier | null>, now: number): HTMLElement {
    return h('article', { class: 'filter', 'aria-labelledby': `filter-${d.id}` },
      h('h2', { id: `filter-${d.id}` }, only ? d.id : h('a', { href: `#/filters/${encodeURIComponent(d.id)}` }, d.id)),
      h('p', { class: 'sub' }, 'Registered or changed ', time(d.updatedAt, formatDate(d.updatedAt)), ` (${relativeTime(d.updatedAt, now)})`),
      h('h3', null, `Pins ${plural(d.sources.length, 'source')}`),
      h('ul', { class: 'pins' }, d.sources.map((n) => {
        const ref = parseSourceName(n);
        const tier = tiers.get(n);
        return h('li', null, ref ? h('a', { href: sourceHref(ref.kind, ref.id) }, n) : n, tier ? [' ', tierBadge(tier)] : null);
      })),
      h('details', { open: only !== undefined }, h('summary', null, 'Filter definition'), h('pre', null, JSON.stringify(d.filter, null, 2))),
      h('p', null,
        h('a', { href: `#/playground?id=${encodeURIComponent(d.id)}` }, 'Try it in the playground'), ' ',
        h('button', { type: 'button', class: 'secondary', 'data-focus': `delete:${d.id}`, 'aria-label': `Delete filter ${d.id}`, onclick: () => void remove(d) }, 'Delete')),
    );
  }

  const poll = poller(async () => {
    try {
      const docs = only ? [await api.filter(only)] : await api.filters();
      const tiers = await tiersOf(docs);
      busy = [...tiers.values()].some((t) => t === 'restoring' || t === 'demoting');
      const now = Date.now();
      errors.show(null);
      replace(list, docs.length
        ? docs.sort((a, b) => (a.id < b.id ? -1 : 1)).map((d) => card(d, tiers, now))
        : h('p', null, 'No retargeting filter is registered. Filters are registered with PUT /v1/filters/:id; each pins the campaigns and canvases it uses, so they stay hot.'));
    } catch (err) {
      errors.show(describe(err, only ? `load filter ${only}` : 'load the filters'));
    } finally {
      list.removeAttribute('aria-busy');
      if (first) {
        first = false;
        focusHeading(root);
      }
    }
  }, () => (busy ? REFRESH_BUSY_MS : REFRESH_MS));

  replace(root,
    only ? h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/filters' }, 'Filters'), ' › ', only) : null,
    h('h1', null, only ? `Filter ${only}` : 'Filters'),
    h('p', { class: 'lede' }, 'Active retargeting filters. A filter pins every campaign and canvas it names: they do not expire while it is registered, and registering it restores the expired ones.'),
    errors.el,
    actionErrors.el,
    done,
    list,
  );
  return { dispose: () => poll.stop() };
}
