import { api, describe, type DeadLetter, type DeadLetterCounts } from '../api.js';
import { announce, h, replace, time } from '../dom.js';
import { formatBytes, formatCount, formatDate, plural, relativeTime } from '../format.js';
import { poller, REFRESH_MS } from '../poller.js';
import { confirmAction, errorBox, focusHeading, type View } from './widgets.js';

/** The newest letters listed. */
export const LATEST_SHOWN = 50;

const RESULT_WORDS: Record<string, [string, string]> = {
  replayed: ['replayed', 'replayed'],
  already_replayed: ['was replayed before (not sent again)', 'were replayed before (not sent again)'],
  not_found: ['is gone from the stream', 'are gone from the stream'],
  not_an_event_subject: ['came from a subject outside the events stream', 'came from subjects outside the events stream'],
};

/**
 * Dead letters (admin): how many of each code, the newest ones, and a replay of the letters
 * selected (after the producer or the clock was fixed), asked for with a confirmation.
 */
export function deadLettersView(root: HTMLElement): View {
  const errors = errorBox();
  const replayErrors = errorBox();
  const selected = new Set<number>();
  let letters: DeadLetter[] = [];
  let first = true;
  const counts = h('section', { id: 'dl-counts', 'aria-labelledby': 'dl-counts-title', 'aria-busy': 'true' }, h('h2', { id: 'dl-counts-title' }, 'By code'), h('p', null, 'Loading…'));
  const tbody = h('tbody');
  const caption = h('caption', null, 'The newest dead letters');
  const replayBtn = h('button', { type: 'button', disabled: true, 'data-focus': 'replay', onclick: () => void replay() }, 'Replay selected (0)');
  const result = h('p', { id: 'dl-result', class: 'result', role: 'status' });

  function countsPanel(c: DeadLetterCounts): void {
    const codes = Object.entries(c.byCode).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    replace(counts,
      h('h2', { id: 'dl-counts-title' }, 'By code'),
      h('p', { id: 'dl-total', class: 'figure' }, h('span', { class: 'big' }, formatCount(c.total)), ` ${c.total === 1 ? 'dead letter' : 'dead letters'} in the stream.`),
      codes.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'dl-codes' },
          h('caption', null, c.scanned < c.total ? `Codes of the newest ${formatCount(c.scanned)} letters` : 'Codes of every letter'),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Code'), h('th', { scope: 'col', class: 'num' }, 'Letters'))),
          h('tbody', null, codes.map(([code, n]) => h('tr', { 'data-code': code }, h('th', { scope: 'row' }, h('code', null, code)), h('td', { class: 'num' }, formatCount(n))))),
        ))
        : h('p', null, 'No event was dead-lettered: every message on the events subjects was valid.'),
    );
  }

  function renderRows(): void {
    const now = Date.now();
    if (!letters.length) replace(tbody, h('tr', null, h('td', { colspan: 7, class: 'empty' }, 'No dead letter.')));
    else {
      replace(tbody, letters.map((l) => h('tr', { 'data-seq': l.seq, class: selected.has(l.seq) ? 'selected' : undefined },
        h('td', { class: 'select' }, h('input', {
          type: 'checkbox', checked: selected.has(l.seq), 'aria-label': `Select letter ${l.seq} (${l.code})`, 'data-focus': `dl:${l.seq}`,
          onchange: (ev: Event) => {
            (ev.target as HTMLInputElement).checked ? selected.add(l.seq) : selected.delete(l.seq);
            renderRows();
          },
        })),
        h('td', { class: 'num', 'data-label': 'Seq' }, String(l.seq)),
        h('td', { 'data-label': 'Dead-lettered' }, time(l.time, formatDate(l.time)), h('span', { class: 'sub' }, ` (${relativeTime(l.time, now, true)})`)),
        h('td', { 'data-label': 'Code' }, h('code', null, l.code), h('span', { class: 'sub' }, ` ${l.message}`)),
        h('td', { class: 'excerpt', 'data-label': 'Payload' }, l.excerpt, l.size > l.excerpt.length ? h('span', { class: 'sub' }, ` … (${formatBytes(l.size)})`) : null),
        h('td', { class: 'ids', 'data-label': 'Subject' }, h('code', null, l.subject)),
        h('td', { 'data-label': 'Replayed' }, l.replayedAt ? ['replayed ', time(l.replayedAt, relativeTime(l.replayedAt, now, true))] : 'no'),
      )));
    }
    replayBtn.disabled = selected.size === 0;
    replayBtn.textContent = `Replay selected (${selected.size})`;
  }

  async function replay(): Promise<void> {
    const seqs = [...selected].sort((a, b) => a - b);
    replayErrors.show(null);
    const codes = [...new Set(letters.filter((l) => selected.has(l.seq)).map((l) => l.code))];
    const ok = await confirmAction({
      title: `Replay ${plural(seqs.length, 'dead letter')}?`,
      body: [
        h('p', { id: 'confirm-what' }, `${plural(seqs.length, 'letter')} (${codes.join(', ')}) will be published again to the subject each came from, as it was. `,
          'Do it after the cause was fixed upstream: a letter still bad becomes a new dead letter. A letter is never replayed twice.'),
      ],
      confirm: `Replay ${plural(seqs.length, 'letter')}`,
    });
    if (!ok) return;
    replayBtn.disabled = true;
    try {
      const results = await api.replay(seqs);
      const by = new Map<string, number>();
      for (const r of results) by.set(r.result, (by.get(r.result) ?? 0) + 1);
      const words = [...by].map(([k, n]) => `${formatCount(n)} ${(RESULT_WORDS[k] ?? [k, k])[n === 1 ? 0 : 1]}`);
      result.textContent = `Replay: ${words.join('; ')}.`;
      announce(result.textContent);
      selected.clear();
      poll.now();
    } catch (err) {
      replayErrors.show(describe(err, 'replay the dead letters'));
    } finally {
      renderRows();
    }
  }

  const poll = poller(async () => {
    try {
      const c = await api.deadLetterCounts();
      const start = c.lastSeq === null ? null : Math.max(c.firstSeq ?? 1, c.lastSeq - LATEST_SHOWN + 1);
      letters = start === null ? [] : (await api.deadLetters(start, LATEST_SHOWN)).items.reverse();
      errors.show(null);
      countsPanel(c);
      caption.textContent = letters.length ? `The newest ${plural(letters.length, 'dead letter')}, newest first` : 'The newest dead letters';
      renderRows();
    } catch (err) {
      errors.show(describe(err, 'load the dead letters'));
      if (first) replace(counts, h('h2', { id: 'dl-counts-title' }, 'By code'));
    } finally {
      counts.removeAttribute('aria-busy');
      if (first) {
        first = false;
        focusHeading(root);
      }
    }
  }, () => REFRESH_MS);

  replace(root,
    h('h1', null, 'Dead letters'),
    h('p', { class: 'lede' }, 'Messages on the events subjects that were not valid events: kept in the dead-letter stream with the reason, so they can be replayed once the producer or its clock is fixed. Admin key needed.'),
    errors.el,
    counts,
    h('section', { 'aria-labelledby': 'dl-latest-title' },
      h('h2', { id: 'dl-latest-title' }, 'Newest letters'),
      h('div', { class: 'bulk', role: 'group', 'aria-label': 'Replay' }, replayBtn),
      replayErrors.el,
      result,
      h('div', { class: 'table-wrap' }, h('table', { class: 'letters' },
        caption,
        h('thead', null, h('tr', null, ['', 'Seq', 'Dead-lettered', 'Code and reason', 'Payload (start)', 'Subject', 'Replayed'].map((c, i) =>
          h('th', { scope: 'col', class: i === 1 ? 'num' : undefined }, i === 0 ? h('span', { class: 'visually-hidden' }, 'Select') : c)))),
        tbody,
      )),
    ),
  );
  renderRows();
  return { dispose: () => poll.stop() };
}
