import { api, ApiFailure, describe, type FilterDoc, type FilterRef, type ServedFrom } from '../api.js';
import { announce, h, replace, type Child } from '../dom.js';
import { formatCount, parseSourceName, plural, sourceHref } from '../format.js';
import { errorBox, focusHeading, type View } from './widgets.js';

/** Users shown of the audience (one page of POST .../audience). */
export const SAMPLE_SIZE = 20;

/** The example filter, over a source of this tierstream: sent it within 30 days, did not click. */
export function exampleFilter(kind: 'campaign' | 'canvas', id: string): object {
  const leaf = (event: string) => ({ [kind]: id, event });
  return { and: [{ ...leaf('send'), within: 'P30D' }, { not: leaf('click') }] };
}

/** The grammar's page, served by tierstream from its docs/ (api/console.ts). */
export const GRAMMAR_HREF = '/console/docs/filters.md';

/** "campaign:A" -> "Campaign A" (as a link to its page). */
function sourceWords(name: string): Child {
  const ref = parseSourceName(name);
  if (!ref) return name;
  return h('a', { href: sourceHref(ref.kind, ref.id) }, `${ref.kind === 'campaign' ? 'Campaign' : 'Canvas'} ${ref.id}`);
}

const list = (names: string[]): Child[] => names.map((n, i) => [i === 0 ? '' : i === names.length - 1 ? ' and ' : ', ', sourceWords(n)]);

/**
 * Try a retargeting filter: written here or registered, answered from the real-time index or
 * from history, with its count, a sample of its audience, and the API's refusals in words.
 */
export function playgroundView(root: HTMLElement, params: URLSearchParams): View {
  let disposed = false;
  let run = 0;
  let filters: FilterDoc[] = [];
  const errors = errorBox();
  const listErrors = errorBox();

  const picker = h('select', { id: 'pg-filter', name: 'filter', onchange: () => pick() },
    h('option', { value: '' }, 'Write a filter below'));
  const text = h('textarea', {
    id: 'pg-json', name: 'json', rows: 10, spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'pg-json-help',
  });
  // The example names the first source of this tierstream once it is known (none yet: "my-campaign").
  const placeholder = JSON.stringify(exampleFilter('campaign', 'my-campaign'), null, 2);
  text.value = params.get('filter') ?? placeholder;
  const saveId = h('input', { id: 'pg-save-id', name: 'save-id', type: 'text', autocomplete: 'off', spellcheck: 'false', maxlength: 128 });
  const saveBtn = h('button', { type: 'submit', class: 'secondary' }, 'Register filter');
  const saveResult = h('p', { id: 'pg-saved', class: 'result', role: 'status' });
  const saveErrors = errorBox();
  const history = h('input', { id: 'pg-history', name: 'history', type: 'checkbox', checked: params.get('from') === 'history' });
  const runBtn = h('button', { type: 'submit' }, 'Run');
  const result = h('section', { id: 'pg-result', class: 'result-panel', 'aria-labelledby': 'pg-result-title', tabindex: -1, hidden: true });

  function pick(): void {
    const doc = filters.find((f) => f.id === picker.value);
    text.readOnly = doc !== undefined;
    if (doc) text.value = JSON.stringify(doc.filter, null, 2);
  }

  /** The API's refusal of a lookup, in words, with what the operator can do next. */
  function refusal(err: unknown): Child[] {
    if (!(err instanceof ApiFailure)) return [describe(err, 'run the filter')];
    const sources = Array.isArray(err.body.sources) ? (err.body.sources as string[]) : [];
    switch (err.code) {
      case 'source_expired':
        return [
          h('p', null, ...list(sources), sources.length === 1 ? ' is' : ' are', ' in long-term storage: the real-time index no longer holds ',
            sources.length === 1 ? 'it' : 'them', '. Restore ', sources.length === 1 ? 'it' : 'them', ' (from the page linked), or ask history (slower).'),
          history.checked ? null : h('button', { type: 'button', class: 'secondary', 'data-focus': 'ask-history', onclick: () => {
            history.checked = true;
            void submit();
          } }, 'Ask history instead'),
        ];
      case 'source_restoring':
        return [h('p', null, ...list(sources), sources.length === 1 ? ' is' : ' are',
          ' being restored into the real-time index. Try again shortly, or ask history.')];
      case 'invalid_filter': {
        const path = String(err.body.path ?? '?');
        const why = err.message.startsWith(`${path}: `) ? err.message.slice(path.length + 2) : err.message;
        return [h('p', null, 'The filter is not valid at ', h('code', null, path), `: ${why}.`)];
      }
      case 'filter_not_found':
        return [`There is no registered filter ${picker.value}: it was deleted since the list was loaded.`];
      case 'invalid_request':
        return [`The API rejected the request: ${err.message}.`];
      default:
        return [describe(err, 'run the filter')];
    }
  }

  async function submit(): Promise<void> {
    const mine = ++run;
    errors.show(null);
    let ref: FilterRef;
    if (picker.value) ref = { id: picker.value };
    else {
      try {
        ref = { filter: JSON.parse(text.value) };
      } catch (err) {
        errors.show(`The filter is not valid JSON: ${(err as Error).message}.`);
        text.focus();
        return;
      }
    }
    const from: ServedFrom = history.checked ? 'history' : 'hot';
    runBtn.disabled = true;
    replace(result, h('h2', { id: 'pg-result-title' }, 'Result'), h('p', null, 'Asking…'));
    result.hidden = false;
    result.setAttribute('aria-busy', 'true');
    try {
      const [count, audience] = await Promise.all([api.count(ref, from), api.audience(ref, from, SAMPLE_SIZE)]);
      if (mine !== run || disposed) return;
      const served = count.servedFrom === 'history'
        ? 'history (long-term storage, ClickHouse): slower, and it works for expired sources too'
        : 'the real-time index (hot tier, Redis)';
      replace(result,
        h('h2', { id: 'pg-result-title' }, 'Result'),
        h('p', { id: 'pg-count', class: 'figure' }, h('span', { class: 'big' }, formatCount(count.count)), ` ${count.count === 1 ? 'user matches' : 'users match'}.`),
        h('p', { id: 'pg-served' }, 'Served from ', h('strong', null, count.servedFrom === 'history' ? 'history' : 'hot'), ` — ${served}.`),
        h('h3', null, audience.users.length ? `Sample of the audience: the first ${plural(audience.users.length, 'user')} by id` : 'Sample of the audience'),
        audience.users.length ? h('ul', { class: 'sample' }, audience.users.map((u) => h('li', null, h('code', null, u)))) : h('p', null, 'No user matches.'),
      );
      announce(`${formatCount(count.count)} users match, served from ${count.servedFrom}.`);
    } catch (err) {
      if (mine !== run || disposed) return;
      replace(result, h('h2', { id: 'pg-result-title' }, 'Result'),
        h('div', { class: 'error', role: 'alert', id: 'pg-error' }, ...refusal(err)));
    } finally {
      if (mine === run) {
        runBtn.disabled = false;
        result.removeAttribute('aria-busy');
        if (!disposed) result.focus();
      }
    }
  }

  const form = h('form', {
    class: 'playground',
    'aria-label': 'Filter playground',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      void submit();
    },
  },
  h('div', { class: 'field' }, h('label', { for: 'pg-filter' }, 'Registered filter'), picker),
  h('div', { class: 'field wide' },
    h('label', { for: 'pg-json' }, 'Filter (JSON)'),
    text,
    h('p', { id: 'pg-json-help', class: 'sub' }, 'A leaf such as {"campaign": "A", "event": "send", "within": "P30D"}, or "and", "or", "not" of filters: the grammar is in ',
    h('a', { href: GRAMMAR_HREF, target: '_blank', rel: 'noopener' }, 'docs/filters.md'), '. Read-only while a registered filter is picked.'),
  ),
  h('div', { class: 'field check' }, history, h('label', { for: 'pg-history' }, 'Ask history (long-term storage): slower, answers for expired sources too')),
  h('div', { class: 'field actions' }, runBtn),
  );

  /** PUT /v1/filters/:id with the filter written above. */
  async function register(): Promise<void> {
    saveErrors.show(null);
    saveResult.textContent = '';
    const id = saveId.value.trim();
    if (!id) {
      saveErrors.show('Give the filter an id to register it under.');
      saveId.focus();
      return;
    }
    let filter: unknown;
    try {
      filter = JSON.parse(text.value);
    } catch (err) {
      saveErrors.show(`The filter is not valid JSON: ${(err as Error).message}.`);
      text.focus();
      return;
    }
    saveBtn.disabled = true;
    try {
      const existed = filters.some((f) => f.id === id);
      const doc = await api.putFilter(id, filter);
      filters = [...filters.filter((f) => f.id !== id), doc].sort((a, b) => (a.id < b.id ? -1 : 1));
      if (!existed) picker.append(h('option', { value: doc.id }, doc.id));
      replace(saveResult, `Filter `, h('a', { href: `#/filters/${encodeURIComponent(doc.id)}` }, doc.id), existed ? ' changed' : ' registered',
        doc.sources.length ? `: it pins ${plural(doc.sources.length, 'source')}, which stay hot while it is registered.` : '.');
      announce(`Filter ${doc.id} ${existed ? 'changed' : 'registered'}.`);
    } catch (err) {
      saveErrors.show(err instanceof ApiFailure && err.code === 'invalid_filter'
        ? `The filter is not valid at ${String(err.body.path ?? '?')}: ${err.message}.`
        : describe(err, `register filter ${id}`));
    } finally {
      saveBtn.disabled = false;
    }
  }

  const saveForm = h('form', {
    class: 'inline-form',
    'aria-label': 'Register the filter',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      void register();
    },
  },
  h('div', { class: 'field' }, h('label', { for: 'pg-save-id' }, 'Register the filter above as'), saveId),
  saveBtn,
  );

  replace(root,
    h('h1', null, 'Filter playground'),
    h('p', { class: 'lede' }, 'Try a retargeting filter: how many users match, who they are, and whether the answer came from the real-time index or from history. Running it registers and changes nothing; registering it keeps the sources it names hot.'),
    listErrors.el,
    form,
    errors.el,
    result,
    h('section', { 'aria-labelledby': 'pg-save-title' },
      h('h2', { id: 'pg-save-title' }, 'Register'),
      h('p', { class: 'sub' }, 'A registered filter is looked up by its id (POST /v1/filters/:id/check) and pins every campaign and canvas it names: they do not expire while it is registered, and the expired ones are restored.'),
      saveForm,
      saveErrors.el,
      saveResult,
    ),
  );
  focusHeading(root);

  if (!params.get('filter')) {
    void api.sources({ limit: 1 }).then((page) => {
      const first = page.items[0];
      if (!first || disposed || text.value !== placeholder || picker.value) return;
      text.value = JSON.stringify(exampleFilter(first.kind, first.id), null, 2);
    }, () => undefined);
  }

  void (async () => {
    try {
      filters = (await api.filters()).sort((a, b) => (a.id < b.id ? -1 : 1));
      if (disposed) return;
      for (const f of filters) picker.append(h('option', { value: f.id, selected: f.id === params.get('id') }, f.id));
      pick();
    } catch (err) {
      listErrors.show(describe(err, 'load the registered filters'));
    }
  })();
  return { dispose: () => (disposed = true) };
}
