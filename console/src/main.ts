// The console's entry: the router (hash routes, so one page serves every view) and the API key field.
import { api, apiKey, onAuthFailure } from './api.js';
import { announce, h, replace } from './dom.js';
import type { View } from './views/widgets.js';
import { filtersView } from './views/filters.js';
import { overviewView } from './views/overview.js';
import { playgroundView } from './views/playground.js';
import { sourceView } from './views/source.js';
import { sourcesView } from './views/sources.js';
import { userView } from './views/user.js';
import { deadLettersView } from './views/dead-letters.js';
import { poller, REFRESH_MS } from './poller.js';

const view = document.getElementById('view')!;
const keyForm = document.getElementById('key-form') as HTMLFormElement;
const keyInput = document.getElementById('api-key') as HTMLInputElement;
const forget = document.getElementById('key-forget') as HTMLButtonElement;
const keyState = document.getElementById('key-state')!;
let current: View | undefined;

/** `#/campaigns/A` -> the view; anything unknown -> a "not found" page with a way back. */
function route(): void {
  current?.dispose();
  current = undefined;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path = '/', query = ''] = hash.split('?', 2) as [string, string?];
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  let nav = '';
  if (parts.length === 0) {
    nav = 'sources';
    current = sourcesView(view, new URLSearchParams(query));
  } else if ((parts[0] === 'campaigns' || parts[0] === 'canvases') && parts.length === 2) {
    nav = 'sources';
    current = sourceView(view, parts[0] === 'campaigns' ? 'campaign' : 'canvas', parts[1]!);
  } else if (parts[0] === 'overview' && parts.length === 1) {
    nav = 'overview';
    current = overviewView(view);
  } else if (parts[0] === 'playground' && parts.length === 1) {
    nav = 'playground';
    current = playgroundView(view, new URLSearchParams(query));
  } else if (parts[0] === 'filters' && parts.length <= 2) {
    nav = 'filters';
    current = filtersView(view, parts[1]);
  } else if (parts[0] === 'users' && parts.length <= 2) {
    nav = 'users';
    current = userView(view, parts[1], new URLSearchParams(query));
  } else if (parts[0] === 'dead-letters' && parts.length === 1) {
    nav = 'dead-letters';
    current = deadLettersView(view);
  } else {
    replace(view, h('h1', null, 'Page not found'), h('p', null, 'The console has no page at this address. ', h('a', { href: '#/' }, 'Go to the sources.')));
  }
  for (const a of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${view.querySelector('h1')?.textContent ?? 'Console'} · tierstream`;
}

/** Shows whether a key is in use (never the key itself). */
function keyStatus(): void {
  const inUse = apiKey.get() !== null;
  forget.hidden = !inUse;
  keyState.textContent = inUse ? 'A key is in use; enter another to replace it.' : 'No key entered.';
}

function showKeyForm(): void {
  const wasHidden = keyForm.hidden;
  keyForm.hidden = false;
  keyStatus();
  if (wasHidden && !apiKey.get()) keyInput.focus();
}

// The key field appears once the API asks for a key (401), or when a key is already kept.
onAuthFailure(showKeyForm);
if (apiKey.get()) showKeyForm();

keyForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = keyInput.value.trim();
  if (!key) {
    keyInput.focus();
    return;
  }
  apiKey.set(key);
  keyInput.value = '';
  keyStatus();
  announce('API key saved for this tab.');
  route();
});
forget.addEventListener('click', () => {
  apiKey.set(null);
  keyStatus();
  announce('API key forgotten.');
  route();
});

// Readiness in the header (GET /readyz, no key): whether NATS, Redis and ClickHouse answer.
const readiness = document.getElementById('readiness')!;
const showReadiness = (state: 'yes' | 'no', text: string, title: string) => {
  if (readiness.dataset.ready === state && readiness.title === title) return; // no repeated announcement
  readiness.dataset.ready = state;
  readiness.textContent = text;
  readiness.title = title;
};
poller(async () => {
  try {
    const r = await api.ready();
    if (r.ready) showReadiness('yes', 'Ready', 'NATS, Redis and ClickHouse answer (GET /readyz)');
    else showReadiness('no', `Not ready: ${r.message}`, r.message);
  } catch {
    showReadiness('no', 'No answer', 'tierstream did not answer GET /readyz');
  }
}, () => REFRESH_MS);

window.addEventListener('hashchange', route);
route();
