import { api, configuredRetention, describe, type Kind, type SourcePatch, type SourceState } from '../api.js';
import { announce, h, replace, time, type Child } from '../dom.js';
import { durationWords, formatCount, formatDate, formatEta, formatPercent, plural, reasonWords, relativeTime } from '../format.js';
import { poller, REFRESH_BUSY_MS, REFRESH_MS } from '../poller.js';
import { errorBox, focusHeading, tierBadge, type View } from './widgets.js';

const when = (iso: string | null, now: number) => (iso === null ? '—' : [time(iso, formatDate(iso)), ` (${relativeTime(iso, now)})`]);

const filterLinks = (ids: string[]): Child[] =>
  ids.map((f, i) => [i ? ', ' : '', h('a', { href: `#/filters/${encodeURIComponent(f)}` }, f)]);

/** When the source expires and why, or why it does not. */
function expiryText(s: SourceState, now: number, retention: string | null): Child[] {
  const word = s.kind;
  switch (s.tier) {
    case 'expired': {
      const why = [...s.transitions].reverse().find((t) => t.tier === 'demoting');
      return [`Expired: the interaction data of this ${word} is in long-term storage only.`,
        why ? [' Why it was moved: ', reasonWords(why.reason)] : '',
        s.status === 'active' ? ' It is active, so an admin demoted it on purpose.' : ''];
    }
    case 'demoting':
      return ['Being moved to long-term storage now.'];
    case 'restoring':
      return ['Being restored from long-term storage into the real-time index now.'];
    case 'hot':
      break;
  }
  if (s.status === 'active') {
    return [`Hot. An active ${word} does not expire. Once stopped, it expires `,
      retention ? `${durationWords(retention)} after it stops (the configured retention, ` : 'after the configured retention (',
      h('code', null, 'TIER_EXPIRE_AFTER'), ') unless an active retargeting filter uses it.'];
  }
  if (s.pinnedBy.length) {
    return [`Hot, and it stays hot while ${plural(s.pinnedBy.length, 'active retargeting filter uses', 'active retargeting filters use')} it (`,
      ...filterLinks(s.pinnedBy), '). Its expiry clock restarts when the last of them is deleted.'];
  }
  if (s.expiresAt === null) return ['Hot; no expiry is scheduled.'];
  if (Date.parse(s.expiresAt) <= now) {
    return ['Hot, but its expiry is due (', time(s.expiresAt, relativeTime(s.expiresAt, now)), '): it moves to long-term storage at the next expiry scan.'];
  }
  return ['Hot until ', time(s.expiresAt, formatDate(s.expiresAt)), ` (${relativeTime(s.expiresAt, now)}): it stopped `,
    time(s.stoppedAt, formatDate(s.stoppedAt)), ` and no active retargeting filter uses it. Setting it active, or registering a filter that uses it, keeps it hot.`];
}

/** When the data moved out of the real-time index: the latest transition to expired. */
function expiredAt(s: SourceState): string | null {
  for (let i = s.transitions.length - 1; i >= 0; i--) if (s.transitions[i]!.tier === 'expired') return s.transitions[i]!.at;
  return null;
}

/** A campaign's or canvas's page: the banner while it is not hot, its tier, state and timeline. */
export function sourceView(root: HTMLElement, kind: Kind, id: string): View {
  let state: SourceState | null = null;
  let restoring = false; // our restore request is on its way
  let restoredNotice: string | null = null;
  let first = true;
  const errors = errorBox(); // loading the state: cleared by the next good refresh
  const actionErrors = errorBox(); // the restore request: kept until the next request
  const manageErrors = errorBox(); // a change of status, name or tags: kept until the next one
  const label = kind === 'campaign' ? 'Campaign' : 'Canvas';
  let retention: string | null = null;
  let changing = false; // a PATCH is on its way
  // Made once and put back at each render, so what the operator types survives the refreshes.
  const nameInput = h('input', { id: 'src-name', name: 'name', type: 'text', autocomplete: 'off', maxlength: 256 });
  const tagInput = h('input', { id: 'src-tag', name: 'tag', type: 'text', autocomplete: 'off', spellcheck: 'false', maxlength: 128 });
  let nameShown = false;

  /** PATCH /v1/<kind>/:id with `patch`, then shows the answer. */
  async function change(patch: SourcePatch, done: string, doing: string): Promise<boolean> {
    changing = true;
    manageErrors.show(null);
    render();
    try {
      state = await api.patchSource(kind, id, patch);
      announce(done);
      return true;
    } catch (err) {
      manageErrors.show(describe(err, doing));
      return false;
    } finally {
      changing = false;
      render();
      poll.now();
    }
  }

  function managePanel(s: SourceState): HTMLElement {
    const active = s.status === 'active';
    const statusButton = h('button', {
      type: 'button', class: active ? 'secondary' : undefined, disabled: changing, 'data-focus': 'status',
      onclick: () => void change({ status: active ? 'stopped' : 'active' },
        active ? `${label} ${id} stopped.` : `${label} ${id} is active.`, active ? `stop ${kind} ${id}` : `set ${kind} ${id} active`),
    }, active ? `Stop this ${kind}` : `Set this ${kind} active`);
    const renameForm = h('form', { class: 'inline-form', 'aria-label': 'Rename', onsubmit: (ev: Event) => {
      ev.preventDefault();
      const name = nameInput.value.trim();
      void change({ name: name || null }, name ? `Renamed to ${name}.` : 'Name cleared.', `rename ${kind} ${id}`);
    } }, h('div', { class: 'field' }, h('label', { for: 'src-name' }, 'Name'), nameInput),
    h('button', { type: 'submit', class: 'secondary', disabled: changing, 'data-focus': 'rename' }, 'Rename'));
    const tags = s.tags ?? [];
    const tagForm = h('form', { class: 'inline-form', 'aria-label': 'Add a tag', onsubmit: (ev: Event) => {
      ev.preventDefault();
      const tag = tagInput.value.trim();
      if (!tag) return tagInput.focus();
      if (tags.includes(tag)) return void announce(`Already tagged ${tag}.`);
      void change({ tags: [...tags, tag] }, `Tag ${tag} added.`, `tag ${kind} ${id}`).then((ok) => {
        if (ok) tagInput.value = '';
      });
    } }, h('div', { class: 'field' }, h('label', { for: 'src-tag' }, 'New tag'), tagInput),
    h('button', { type: 'submit', class: 'secondary', disabled: changing, 'data-focus': 'add-tag' }, 'Add tag'));
    return h('section', { class: 'actions-panel', 'aria-labelledby': 'manage-title' },
      h('h2', { id: 'manage-title' }, 'Manage'),
      manageErrors.el,
      h('p', null, active
        ? `Active: it stays in the real-time index. Stopping it starts its expiry clock${retention ? ` (${durationWords(retention)})` : ''}.`
        : s.tier === 'expired' ? 'Stopped. Setting it active also restores its interaction data.' : 'Stopped. Setting it active keeps it hot for good.', ' ', statusButton),
      renameForm,
      h('h3', null, 'Tags'),
      tags.length
        ? h('ul', { class: 'tag-list' }, tags.map((t) => h('li', null, h('span', { class: 'tag' }, t),
          h('button', { type: 'button', class: 'secondary', disabled: changing, 'data-focus': `untag:${t}`, 'aria-label': `Remove tag ${t}`,
            onclick: () => void change({ tags: tags.filter((x) => x !== t) }, `Tag ${t} removed.`, `untag ${kind} ${id}`) }, '✕'))))
        : h('p', { class: 'sub' }, 'No tags. Tags group sources for bulk restores and filters.'),
      tagForm,
    );
  }

  async function restore(): Promise<void> {
    restoring = true;
    actionErrors.show(null);
    render();
    try {
      const r = await api.restore(kind, id);
      if (state && r.tier !== 'hot') {
        state = { ...state, tier: r.tier, restore: r.tier === 'restoring' ? { startedAt: new Date().toISOString(), finishedAt: null, etaSeconds: null, waiting: null, progress: state.tier === 'restoring' ? state.restore?.progress ?? 0 : 0 } : state.restore };
      }
      announce(r.tier === 'hot' ? `${label} ${id} is already hot.` : r.restorePending ? 'Restore requested: it starts when the move to long-term storage finishes.' : 'Restoring interaction data.');
    } catch (err) {
      actionErrors.show(describe(err, 'restore the interaction data'));
    } finally {
      restoring = false;
      render();
      document.getElementById('banner')?.focus();
      poll.now();
    }
  }

  function banner(s: SourceState, now: number): HTMLElement | null {
    if (s.tier === 'hot') return null;
    const button = h('button', { type: 'button', class: 'primary', disabled: restoring, 'data-focus': 'restore', onclick: () => void restore() },
      restoring ? 'Asking…' : 'Restore interaction data');
    if (s.tier === 'restoring') {
      const p = s.restore?.progress ?? 0;
      return h('section', { id: 'banner', class: 'banner restoring', tabindex: -1, 'aria-labelledby': 'banner-title' },
        h('h2', { id: 'banner-title' }, 'Restoring interaction data…'),
        h('p', null, `The interaction data of this ${kind} is being copied back from long-term storage into the real-time index. `,
          'Until it is done, retargeting filters that use it answer “restoring, try again shortly”.'),
        h('div', { class: 'progress' },
          h('progress', { id: 'restore-progress', max: 100, value: Math.round(p * 100), 'aria-labelledby': 'progress-label', 'aria-valuetext': formatPercent(p) }),
          h('span', { id: 'progress-label' }, `Restore progress: ${formatPercent(p)}`),
          s.restore?.startedAt ? h('span', { class: 'sub' }, ' — started ', time(s.restore.startedAt, relativeTime(s.restore.startedAt, now, true))) : null,
          typeof s.restore?.etaSeconds === 'number' ? h('span', { id: 'restore-eta', class: 'sub' }, ` — about ${formatEta(s.restore.etaSeconds)} left`) : null,
        ),
        s.restore?.waiting ? h('p', { id: 'restore-waiting', role: 'status' }, `Waiting: ${s.restore.waiting}.`) : null,
      );
    }
    if (s.tier === 'demoting') {
      return h('section', { id: 'banner', class: 'banner', tabindex: -1, 'aria-labelledby': 'banner-title' },
        h('h2', { id: 'banner-title' }, 'Moving interaction data to long-term storage…'),
        h('p', null, `The interaction data of this ${kind} is being removed from the real-time index; its history stays in long-term storage. A restore asked for now starts as soon as the move finishes.`),
        button,
      );
    }
    const at = expiredAt(s);
    return h('section', { id: 'banner', class: 'banner', tabindex: -1, 'aria-labelledby': 'banner-title' },
      h('h2', { id: 'banner-title' }, 'Interaction data moved to long-term storage'),
      h('p', null, `The interaction data of this ${kind} was moved to long-term storage on `,
        at ? time(at, formatDate(at)) : 'an earlier date', '. Nothing was deleted, but it is no longer in the real-time index: ',
        `retargeting filters that use this ${kind} (audiences, counts, send-time checks) are refused with “source expired” until it is restored, `,
        'unless they ask for history explicitly, which is slower. New events for it are still recorded and are included when it is restored.'),
      h('p', null, button, h('span', { class: 'sub after-button' }, ' Restoring rebuilds the real-time index from history: seconds to minutes, depending on its size.')),
    );
  }

  function render(): void {
    const now = Date.now();
    const s = state;
    const heading = h('h1', { 'data-focus': 'h1' }, s?.name || id, ' ', h('span', { class: 'kind' }, label));
    if (!s) {
      replace(root, crumbs(), heading, errors.el, errors.el.hidden ? h('p', null, 'Loading…') : null);
      return;
    }
    const r = s.restore;
    replace(root,
      crumbs(),
      heading,
      h('p', { class: 'lede' }, `${label} `, h('code', null, s.id), s.tags?.length ? [' · tags ', s.tags.map((t) => h('span', { class: 'tag' }, t))] : null),
      banner(s, now),
      restoredNotice ? h('p', { id: 'restored', class: 'notice', tabindex: -1 }, restoredNotice) : null,
      actionErrors.el,
      errors.el,
      h('section', { 'aria-labelledby': 'tier-title' },
        h('h2', { id: 'tier-title' }, 'Tier ', tierBadge(s.tier)),
        h('p', { id: 'expiry' }, ...expiryText(s, now, retention)),
      ),
      managePanel(s),
      h('section', { 'aria-labelledby': 'state-title' },
        h('h2', { id: 'state-title' }, 'State'),
        h('dl', { class: 'state' },
          h('dt', null, 'Status'), h('dd', null, s.status),
          h('dt', null, 'Stopped at'), h('dd', null, when(s.stoppedAt, now)),
          h('dt', null, 'Expires at'), h('dd', null, s.tier !== 'hot' ? '— (not hot)' : s.expiresAt ? when(s.expiresAt, now)
            : s.status === 'active' ? 'not while it is active' : s.pinnedBy.length ? 'not while filters pin it' : 'not scheduled'),
          h('dt', null, 'Hot users'), h('dd', null, formatCount(s.counts.hot), s.counts.hot === null ? ' (not in the real-time index)' : ''),
          h('dt', null, 'History events'), h('dd', null, formatCount(s.counts.history)),
          h('dt', null, 'Last restore'), h('dd', null, r
            ? [r.finishedAt ? ['finished ', when(r.finishedAt, now)] : ['running, ', formatPercent(r.progress)], r.startedAt ? ['; started ', time(r.startedAt, formatDate(r.startedAt))] : '']
            : 'never'),
        ),
      ),
      h('section', { 'aria-labelledby': 'pins-title' },
        h('h2', { id: 'pins-title' }, 'Retargeting filters that pin it'),
        s.pinnedBy.length
          ? h('ul', { class: 'pins' }, s.pinnedBy.map((f) => h('li', null, h('a', { href: `#/filters/${encodeURIComponent(f)}` }, f))))
          : h('p', null, `No active retargeting filter uses this ${kind}.`),
      ),
      h('section', { 'aria-labelledby': 'timeline-title' },
        h('h2', { id: 'timeline-title' }, 'Tier history'),
        h('ol', { class: 'timeline', reversed: true },
          [...s.transitions].reverse().map((t) =>
            h('li', null, tierBadge(t.tier), ' ', time(t.at, formatDate(t.at)), h('span', { class: 'sub' }, ` (${relativeTime(t.at, now, true)})`), h('p', { class: 'reason' }, reasonWords(t.reason))),
          ),
        ),
      ),
      h('details', null, h('summary', null, 'State as the API returns it'), h('pre', null, JSON.stringify(s, null, 2))),
    );
  }

  const crumbs = () => h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Sources'), ' › ', `${kind} ${id}`);

  const poll = poller(async () => {
    try {
      const next = await api.source(kind, id);
      const was = state?.tier;
      const bannerFocused = document.activeElement instanceof HTMLElement && document.activeElement.closest('#banner') !== null;
      if (was && was !== 'hot' && next.tier === 'hot') {
        restoredNotice = `Interaction data restored ${formatDate(next.restore?.finishedAt ?? new Date().toISOString())}: this ${kind} is hot again and its retargeting filters answer from the real-time index.`;
        announce(`Interaction data restored: ${kind} ${id} is hot again.`);
      }
      state = next;
      if (!nameShown) {
        nameInput.value = next.name ?? '';
        nameShown = true;
      }
      errors.show(null);
      render();
      if (bannerFocused && !document.getElementById('banner')) document.getElementById('restored')?.focus();
    } catch (err) {
      errors.show(describe(err, `load ${kind} ${id}`));
      if (!state) render();
    }
    if (first) {
      first = false;
      focusHeading(root);
    }
  }, () => (state && state.tier !== 'hot' && state.tier !== 'expired' ? REFRESH_BUSY_MS : REFRESH_MS));

  void configuredRetention().then((r) => {
    retention = r;
    if (state && r) render();
  });
  render();
  return { dispose: () => poll.stop() };
}
