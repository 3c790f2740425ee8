import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { eventually, startStack, type Stack } from '../integration/helpers.js';
import { buildApp } from '../../api/index.js';
import { createLookup } from '../../engine/lookup/index.js';
import { accessibilityViolations, launch, open, screenshot, type Watched } from './browser.js';
import { natsNames } from '../../storage/nats/index.js';

const ADMIN = 'e2e-admin-key-0123456789';
const RESTORER = 'e2e-restore-key-0123456789';
const READER = 'e2e-lookup-key-0123456789';
const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
// Long ago: a source stopped then is past its expiry at once, and the engine's scan expires it.
const STOPPED_LONG_AGO = '2026-09-01T09:00:00.000Z';

interface Ctx {
  stack: Stack;
  base: string;
  browser: Browser;
  /** The operator's tab, with the restore key entered once and kept in session storage. */
  op: Watched;
  /** Why the browser or the stack did not start: every test fails with it (uvu hides errors thrown in hooks). */
  setupError?: Error;
}
const suiteOf = suite<Ctx>('console e2e');
const test = (name: string, fn: (ctx: Ctx) => Promise<void>) =>
  suiteOf(name, async (ctx) => {
    if (ctx.setupError) throw ctx.setupError;
    await fn(ctx);
  });

suiteOf.before(async (ctx) => {
  try {
    // The browser first: without Chromium there is nothing to start a stack for.
    ctx.browser = await launch();
    ctx.stack = await startStack(undefined, {}, {
      // Expiry after 30 s: sources stopped long ago expire at the next scan (0.2 s), and a restored
      // one stays hot long enough for the test to look at it.
      TIER_EXPIRE_AFTER: 'PT30S',
      TIER_SCAN_INTERVAL: 'PT0.2S',
      TIERSTREAM_API_KEYS: `${ADMIN}:admin;${RESTORER}:restore,lookup;${READER}:lookup`,
      TIERSTREAM_RATE_LIMIT: '200',
    });
    await ctx.stack.ts.app.listen({ host: '127.0.0.1', port: 0 });
    ctx.base = `http://127.0.0.1:${(ctx.stack.ts.app.server.address() as AddressInfo).port}`;
  } catch (err) {
    ctx.setupError = err as Error;
  }
});
suiteOf.after(async (ctx) => {
  await ctx.op?.context.close().catch(() => undefined);
  await ctx.browser?.close().catch(() => undefined);
  await ctx.stack?.stop();
});

/** An API call over the socket, as an admin unless told. */
async function call(ctx: Ctx, method: string, path: string, body?: unknown, key = ADMIN): Promise<{ status: number; body: any }> {
  const res = await fetch(ctx.base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const tier = async (ctx: Ctx, path: string) => (await call(ctx, 'GET', path)).body.tier as string;

/** Events of `users` users for a source (a send each, an open for every second, a click for every fourth), ingested. */
async function seed(ctx: Ctx, kind: 'campaign' | 'canvas', id: string, users: number): Promise<number> {
  const events: object[] = [];
  const src = kind === 'campaign' ? { campaignId: id } : { canvasId: id, stepId: 's1' };
  const t0 = Date.parse('2026-08-01T10:00:00Z');
  for (let u = 0; u < users; u++) {
    events.push({ id: `${id}-s-${u}`, type: 'send', userId: `u${u}`, ...src, time: t0 + u * 1_000 });
    if (u % 2 === 0) events.push({ id: `${id}-o-${u}`, type: 'open', userId: `u${u}`, ...src, time: t0 + u * 1_000 + 60_000 });
    if (u % 4 === 0) events.push({ id: `${id}-c-${u}`, type: 'click', userId: `u${u}`, ...src, time: t0 + u * 1_000 + 120_000 });
  }
  for (let i = 0; i < events.length; i += 2_000) await ctx.stack.publish(events.slice(i, i + 2_000));
  const path = `/v1/${kind === 'campaign' ? 'campaigns' : 'canvases'}/${id}`;
  await eventually(async () => (await call(ctx, 'GET', path)).body.counts?.history === events.length, `${id} ingested`, 30_000);
  return events.length;
}

/** Stops sources long ago with a name and tags, and waits until the engine has expired them. */
async function stopAndExpire(ctx: Ctx, sources: { path: string; name: string; tags?: string[] }[]): Promise<void> {
  for (const s of sources) {
    const res = await call(ctx, 'PUT', s.path, { status: 'stopped', stoppedAt: STOPPED_LONG_AGO, name: s.name, tags: s.tags ?? [] });
    assert.is(res.status, 200, JSON.stringify(res.body));
  }
  for (const s of sources) await eventually(async () => (await tier(ctx, s.path)) === 'expired', `${s.path} expired`, 30_000);
}

/**
 * What sticks out of the viewport sideways: the page's own horizontal scroll, any element whose
 * right edge is past the viewport's, and any scroll box (but a <pre>) wider than itself. An element
 * inside a box that clips or scrolls is that box's to contain. Empty when everything fits.
 */
async function horizontalOverflow(page: Page): Promise<string[]> {
  // A string, not a function: tsx would wrap the inner functions in a helper the page lacks.
  return (await page.evaluate(`(() => {
    const width = document.documentElement.clientWidth;
    const out = [];
    const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + [...el.classList].map((c) => '.' + c).join('');
    const pageWidth = document.documentElement.scrollWidth;
    if (pageWidth > width) out.push('the page scrolls sideways (' + pageWidth + ' > ' + width + ' px)');
    const contained = (el) => {
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) if (getComputedStyle(a).overflowX !== 'visible') return true;
      return false;
    };
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (!contained(el) && r.right > width + 0.5) out.push(name(el) + ' ends at ' + Math.round(r.right) + ' px, past ' + width + ' px');
      const scrolls = ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
      if (scrolls && el.tagName !== 'PRE' && el.scrollWidth > el.clientWidth + 1) out.push(name(el) + ' scrolls sideways (' + el.scrollWidth + ' > ' + el.clientWidth + ' px)');
    }
    return out;
  })()`)) as string[];
}

/** The operator enters a key in the key field that appears after the API's 401. */
async function enterKey(page: Page, key: string): Promise<void> {
  const field = page.getByLabel('API key', { exact: true });
  await field.waitFor({ state: 'visible' });
  await field.fill(key);
  await field.press('Enter');
}

test('chromium from Debian is there (apt-get install -y chromium)', async (ctx) => {
  assert.ok(ctx.browser.isConnected());
  assert.match(ctx.browser.version(), /^\d+\./);
});

test('the console is served by tierstream itself: no key, no rate limit, no other origin; the API stays guarded', async (ctx) => {
  const texts: string[] = [];
  for (const path of ['/console', '/console/', '/console/app.js', '/console/app.css']) {
    const res = await fetch(ctx.base + path);
    assert.is(res.status, 200, path);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    texts.push(await res.text());
    const again = await fetch(ctx.base + path, { headers: { 'if-none-match': res.headers.get('etag')! } });
    assert.is(again.status, 304, `${path} revalidates`);
  }
  assert.match(texts[0]!, /<script type="module" src="\/console\/app.js">/);
  for (const t of texts) assert.not.match(t, /(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}\//i, 'no asset from another origin');
  // More requests than the rate limit allows per second: the console is not rate limited.
  const burst = await Promise.all(Array.from({ length: 250 }, () => fetch(`${ctx.base}/console/app.css`).then((r) => r.status)));
  assert.ok(burst.every((s) => s === 200), `burst: ${[...new Set(burst)]}`);
  assert.is((await fetch(`${ctx.base}/v1/campaigns`)).status, 401);
  const docs = await fetch(`${ctx.base}/docs/json`);
  assert.is(docs.status, 200);
  const spec = (await docs.json()) as { paths: Record<string, unknown> };
  assert.ok(spec.paths['/v1/campaigns/{id}/restore'], 'the API docs still list the routes');
  assert.not.ok(Object.keys(spec.paths).some((p) => p.startsWith('/console')), 'the console is not an API route');
  assert.is((await fetch(`${ctx.base}/docs`, { redirect: 'follow' })).status, 200);
  assert.is((await fetch(`${ctx.base}/healthz`)).status, 200);
});

test('an expired campaign: banner, Restore interaction data, progress, banner gone, hot, lookups answer', async (ctx) => {
  const events = await seed(ctx, 'campaign', 'spring-sale', 3_000);
  await stopAndExpire(ctx, [{ path: '/v1/campaigns/spring-sale', name: 'Spring sale 2026', tags: ['spring'] }]);
  const filter = { campaign: 'spring-sale', event: 'send' };
  const refused = await call(ctx, 'POST', '/v1/retargeting/check', { filter, userIds: ['u1'] });
  assert.is(refused.status, 409);
  assert.is(refused.body.error, 'source_expired');
  const expiredAt = (await call(ctx, 'GET', '/v1/campaigns/spring-sale')).body.transitions.findLast((t: { tier: string }) => t.tier === 'expired').at;

  ctx.op = await open(ctx.browser, ctx.base);
  const { page } = ctx.op;
  await page.goto(`${ctx.base}/console/#/campaigns/spring-sale`);
  await enterKey(page, RESTORER);
  const banner = page.locator('#banner');
  await banner.getByRole('heading', { name: 'Interaction data moved to long-term storage' }).waitFor();
  await page.getByRole('heading', { level: 1, name: /Spring sale 2026/ }).waitFor();
  assert.is(await banner.locator('time').first().getAttribute('datetime'), expiredAt, 'the banner dates the move');
  assert.match(await banner.innerText(), /retargeting filters that use this campaign .* are refused/);
  assert.equal(await accessibilityViolations(page), [], 'source page with its banner');
  const shot = await screenshot(page, 'source-expired');
  // The picture of docs/operating.md, "Web console": refreshed on request only, so a test run leaves the tree clean.
  const doc = join(root, 'docs/console-source-page.png');
  if (process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(doc)) copyFileSync(shot, doc);

  // Every progress value the page ever shows, whatever the timing of the refreshes.
  await page.evaluate(() => {
    const seen: number[] = [];
    (window as unknown as { seenProgress: number[] }).seenProgress = seen;
    new MutationObserver(() => {
      const p = document.querySelector('progress');
      if (p) seen.push(p.value);
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await banner.getByRole('button', { name: 'Restore interaction data' }).click();
  await page.getByRole('heading', { name: 'Restoring interaction data…' }).or(page.locator('#restored')).first().waitFor();
  if (await page.locator('progress').count()) await screenshot(page, 'source-restoring');
  await banner.waitFor({ state: 'detached', timeout: 60_000 });
  const seen = await page.evaluate(() => (window as unknown as { seenProgress: number[] }).seenProgress);
  assert.ok(seen.length > 0, 'a progress bar was shown');
  assert.ok(seen.every((v) => v >= 0 && v <= 100), `progress values ${seen}`);
  await page.locator('#restored', { hasText: 'Interaction data restored' }).waitFor();
  assert.is(await page.locator('#tier-title .badge').innerText(), 'Hot');
  assert.match(await page.locator('#expiry').innerText(), /Hot until .* no active retargeting filter uses it/);
  // The reason in words: no internal counts ("390290 aggregate rows").
  assert.match(await page.locator('.timeline li').first().innerText(), /Hot[\s\S]*Restore finished: its interaction data is back in the real-time index\.$/);
  assert.not.match(await page.locator('.timeline').innerText(), /aggregate rows|keys removed/);
  await screenshot(page, 'source-restored', true);
  assert.equal(await accessibilityViolations(page), [], 'restored source page');

  const state = (await call(ctx, 'GET', '/v1/campaigns/spring-sale')).body;
  assert.is(state.tier, 'hot');
  assert.is(state.counts.hot, 3_000);
  assert.is(state.counts.history, events);
  const check = await call(ctx, 'POST', '/v1/retargeting/check', { filter, userIds: ['u1', 'u2999', 'nobody'] }, RESTORER);
  assert.is(check.status, 200, JSON.stringify(check.body));
  assert.equal(check.body.matched, ['u1', 'u2999']);
  assert.is(check.body.servedFrom, 'hot');
  assert.equal(ctx.op.errors, []);
});

test('bulk restore from the sources page: by tag, then a searched row selected with the keyboard', async (ctx) => {
  await Promise.all([seed(ctx, 'campaign', 'autumn-a', 40), seed(ctx, 'campaign', 'autumn-b', 40), seed(ctx, 'canvas', 'autumn-flow', 40), seed(ctx, 'campaign', 'winter', 40)]);
  await stopAndExpire(ctx, [
    { path: '/v1/campaigns/autumn-a', name: 'Autumn A', tags: ['autumn'] },
    { path: '/v1/campaigns/autumn-b', name: 'Autumn B', tags: ['autumn'] },
    { path: '/v1/canvases/autumn-flow', name: 'Autumn onboarding flow', tags: ['autumn', 'onboarding'] },
    { path: '/v1/campaigns/winter', name: 'Winter teaser' },
  ]);
  const page = ctx.op.page;
  await page.goto(`${ctx.base}/console/#/`);
  await page.getByLabel('Tag', { exact: true }).fill('autumn');
  await page.getByLabel('Tag', { exact: true }).press('Enter');
  const rows = page.locator('table.sources tbody tr[data-source]');
  await eventually(async () => (await rows.count()) === 3, 'three tagged rows');
  assert.equal(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-source'))), ['campaign:autumn-a', 'campaign:autumn-b', 'canvas:autumn-flow']);
  for (const r of await rows.all()) assert.is(await r.locator('.badge').innerText(), 'Expired');
  assert.match(page.url(), /#\/\?tag=autumn$/);
  await screenshot(page, 'sources-expired');
  assert.equal(await accessibilityViolations(page), [], 'sources page');

  // Every message the bulk restore's status line shows, however quickly it is cleared.
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { bulkMessages: string[] }).bulkMessages = seen;
    const line = document.querySelector('p.result[role="status"]')!;
    new MutationObserver(() => seen.push(line.textContent ?? '')).observe(line, { subtree: true, childList: true, characterData: true });
  });
  await page.getByRole('button', { name: 'Restore every source tagged “autumn”' }).click();
  // A confirmation first, naming how many sources (not hot) and users (u0…u39 in each: 40).
  const dialog = page.getByRole('dialog', { name: 'Restore 3 sources tagged “autumn”?' });
  await dialog.waitFor();
  assert.is(await dialog.locator('#confirm-what').innerText(), '2 campaigns and 1 canvas tagged “autumn” are not hot; 40 users have interactions with the tagged sources.');
  assert.equal(await accessibilityViolations(page), [], 'the bulk restore confirmation');
  await screenshot(page, 'sources-confirm-restore');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  for (const p of ['/v1/campaigns/autumn-a', '/v1/campaigns/autumn-b', '/v1/canvases/autumn-flow']) assert.is(await tier(ctx, p), 'expired', 'cancelled: nothing restored');
  await page.getByRole('button', { name: 'Restore every source tagged “autumn”' }).click();
  await dialog.getByRole('button', { name: 'Restore 3 sources' }).click();
  await eventually(async () => {
    const badges = await rows.locator('.badge').allInnerTexts();
    return badges.length === 3 && badges.every((b) => b === 'Hot');
  }, 'the table shows the tagged sources hot (refreshing by itself)', 60_000);
  // The message said what was asked, and went once they were hot.
  await eventually(async () => (await page.locator('p.result[role="status"]').innerText()) === '', 'the message cleared once hot', 30_000);
  const messages = await page.evaluate(() => (window as unknown as { bulkMessages: string[] }).bulkMessages);
  assert.ok(messages.includes('Restore of the tag “autumn”: 3 sources restoring.'), JSON.stringify(messages));
  for (const p of ['/v1/campaigns/autumn-a', '/v1/campaigns/autumn-b', '/v1/canvases/autumn-flow']) assert.is(await tier(ctx, p), 'hot');
  assert.is(await tier(ctx, '/v1/campaigns/winter'), 'expired', 'an untagged source is left alone');

  // Search by name, select the row with the keyboard, restore the selection.
  await page.getByRole('button', { name: 'Reset' }).click();
  await page.getByLabel('Search by id or name').fill('teaser');
  await page.getByLabel('Search by id or name').press('Enter');
  await eventually(async () => (await rows.count()) === 1 && (await rows.first().getAttribute('data-source')) === 'campaign:winter', 'the search finds winter');
  const box = page.getByRole('checkbox', { name: 'Select campaign Winter teaser' });
  await box.focus();
  await page.keyboard.press('Space');
  assert.ok(await box.isChecked());
  const restoreSelected = page.getByRole('button', { name: 'Restore selected (1)' });
  await restoreSelected.focus();
  await page.keyboard.press('Enter');
  await page.getByRole('status').filter({ hasText: '1 source restoring' }).waitFor();
  await eventually(async () => (await rows.first().locator('.badge').innerText()) === 'Hot', 'winter hot in the table', 60_000);
  assert.is(await tier(ctx, '/v1/campaigns/winter'), 'hot');

  await page.getByRole('button', { name: 'Reset' }).click();
  await eventually(async () => (await rows.count()) === 5, 'all sources listed');
  await screenshot(page, 'sources', true);

  // Cursor paging, two rows a page: campaigns by id, then canvases.
  await page.goto(`${ctx.base}/console/#/?size=2`);
  const ids = () => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-source')));
  const onPage = async (n: number, want: string[]) => {
    await page.getByText(`Page ${n}`, { exact: true }).waitFor();
    await eventually(async () => JSON.stringify(await ids()) === JSON.stringify(want), `page ${n}: ${want}`);
  };
  const nextPage = page.getByRole('button', { name: 'Next →' });
  await onPage(1, ['campaign:autumn-a', 'campaign:autumn-b']);
  await nextPage.click();
  await onPage(2, ['campaign:spring-sale', 'campaign:winter']);
  await nextPage.click();
  await onPage(3, ['canvas:autumn-flow']);
  assert.ok(await nextPage.isDisabled(), 'no page after the last');
  await page.getByRole('button', { name: '← Previous' }).click();
  await onPage(2, ['campaign:spring-sale', 'campaign:winter']);
  const phone = await open(ctx.browser, ctx.base, { width: 390, height: 844 });
  try {
    await phone.page.goto(`${ctx.base}/console/#/`);
    await enterKey(phone.page, RESTORER);
    await phone.page.locator('table.sources tbody tr[data-source]').first().waitFor();
    const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no horizontal scrolling at phone width (${width} px)`);
    await screenshot(phone.page, 'sources-phone', true);
    assert.equal(await accessibilityViolations(phone.page), [], 'sources page at phone width');
    await phone.page.goto(`${ctx.base}/console/#/campaigns/spring-sale`);
    await phone.page.locator('.timeline li').first().waitFor();
    const pageWidth = await phone.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(pageWidth <= 390, `source page fits a phone (${pageWidth} px)`);
    await screenshot(phone.page, 'source-phone', true);
    assert.equal(await accessibilityViolations(phone.page), [], 'source page at phone width');
    assert.equal(phone.foreign, []);
  } finally {
    await phone.context.close();
  }
  assert.equal(ctx.op.errors, []);
});

test('filters page: registered filters and the sources each pins; the source page says why it stays hot', async (ctx) => {
  const put = await call(ctx, 'PUT', '/v1/filters/spring-non-clickers', {
    filter: { and: [{ campaign: 'spring-sale', event: 'send' }, { not: { campaign: 'spring-sale', event: 'click' } }] },
  });
  assert.is(put.status, 200, JSON.stringify(put.body));
  await call(ctx, 'PUT', '/v1/filters/autumn-openers', { filter: { or: [{ campaign: 'autumn-a', event: 'open' }, { canvas: 'autumn-flow', step: 's1', event: 'open' }] } });
  const page = ctx.op.page;
  await page.goto(`${ctx.base}/console/#/filters`);
  const card = page.getByRole('article', { name: 'spring-non-clickers' });
  await card.waitFor();
  assert.is(await page.getByRole('article').count(), 2);
  const pin = card.getByRole('listitem').filter({ hasText: 'campaign:spring-sale' });
  await pin.locator('.badge').waitFor();
  assert.ok(['Hot', 'Restoring'].includes(await pin.locator('.badge').innerText()));
  await screenshot(page, 'filters', true);
  assert.equal(await accessibilityViolations(page), [], 'filters page');

  await card.getByRole('link', { name: 'spring-non-clickers' }).click();
  await page.getByRole('heading', { level: 1, name: 'Filter spring-non-clickers' }).waitFor();
  assert.match(await page.locator('pre').innerText(), /"not": \{\s+"campaign": "spring-sale",\s+"event": "click"/);
  await screenshot(page, 'filter', true);
  await page.goBack();
  await pin.getByRole('link').click();
  await page.getByRole('heading', { level: 1, name: /Spring sale 2026/ }).waitFor();
  await page.locator('#expiry', { hasText: 'stays hot while 1 active retargeting filter uses it' }).waitFor();
  assert.ok(await page.getByRole('region', { name: 'Retargeting filters that pin it' }).getByRole('link', { name: 'spring-non-clickers' }).isVisible());
  await screenshot(page, 'source-pinned', true);
  assert.equal(ctx.op.errors, []);
  assert.equal(ctx.op.foreign, [], 'no request left tierstream');
});

test('without API keys configured the console asks for none', async (ctx) => {
  const { ts } = ctx.stack;
  // The same engine behind a second app without keys (what `npm start` gives without TIERSTREAM_API_KEYS).
  const open_ = buildApp({
    registry: ts.registry, hot: ts.hot, history: ts.history, metrics: ts.metrics, tiers: ts.tiers, filters: ts.filters, erasures: ts.erasures,
    lookup: createLookup({ registry: ts.registry, hot: ts.hot, history: ts.history }),
    readiness: async () => ({}),
  });
  await open_.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(open_.server.address() as AddressInfo).port}`;
  const w = await open(ctx.browser, base);
  try {
    await w.page.goto(`${base}/console`);
    await w.page.locator('table.sources tbody tr[data-source="campaign:spring-sale"]').waitFor();
    assert.is(await w.page.getByLabel('API key', { exact: true }).isVisible(), false, 'no key field');
    assert.is(await w.page.getByRole('alert').count(), 0);
    assert.equal(w.errors, []);
    assert.equal(w.foreign, []);
  } finally {
    await w.context.close();
    await open_.close();
  }
});

test('API errors in words: no key, a wrong key, a key without the restore scope', async (ctx) => {
  await call(ctx, 'POST', '/v1/campaigns/autumn-b/demote');
  await eventually(async () => (await tier(ctx, '/v1/campaigns/autumn-b')) === 'expired', 'autumn-b demoted');
  const w = await open(ctx.browser, ctx.base);
  try {
    const { page } = w;
    await page.goto(`${ctx.base}/console/#/`);
    const alert = page.getByRole('alert');
    await alert.filter({ hasText: 'Could not load the sources: this tierstream needs an API key' }).waitFor();
    assert.ok(await page.getByLabel('API key', { exact: true }).isVisible());
    await screenshot(page, 'key-needed');

    await enterKey(page, 'not-the-right-key-0000');
    await alert.filter({ hasText: 'the API key was refused (the API said: “unknown API key”)' }).waitFor();
    await screenshot(page, 'key-wrong');
    assert.equal(await accessibilityViolations(page), [], 'key field and its error');

    await enterKey(page, READER);
    await page.locator('table.sources tbody tr[data-source]').first().waitFor();
    assert.is(await alert.isVisible(), false, 'the error goes once a good key is in');

    await page.goto(`${ctx.base}/console/#/campaigns/autumn-b`);
    await page.getByRole('button', { name: 'Restore interaction data' }).click();
    const refused = alert.filter({ hasText: 'Could not restore the interaction data: this API key lacks the permission for it' });
    await refused.waitFor();
    assert.match(await refused.innerText(), /lacks the "restore" scope/);
    // A refresh of the page (every second or five) does not take the error away.
    await page.waitForTimeout(1_500);
    assert.ok(await refused.isVisible(), 'the error stays until the next request');
    await screenshot(page, 'key-forbidden');
    assert.is(await tier(ctx, '/v1/campaigns/autumn-b'), 'expired');

    await page.goto(`${ctx.base}/console/#/campaigns/no-such-campaign`);
    await alert.filter({ hasText: 'Could not load campaign no-such-campaign: there is no such campaign or canvas' }).waitFor();
    assert.equal(w.errors, []);
    assert.equal(w.foreign, []);
  } finally {
    await w.context.close();
  }
});

test('a 128-character id wraps: the sources table, the source page and the filters page fit the screen, the whole id shown', async (ctx) => {
  // Ids are [A-Za-z0-9._:-]{1,128}; none of these characters is a line-break opportunity.
  const longId = ('Q4.retention:winback_' + 'Abcdefghij0123456789'.repeat(7)).slice(0, 128);
  const longTag = ('tag_' + 'Klmnopqrst9876543210'.repeat(7)).slice(0, 128);
  const longFilter = ('filter.' + 'Uvwxyzabcd1357924680'.repeat(7)).slice(0, 128);
  assert.is(longId.length, 128);
  const put = await call(ctx, 'PUT', `/v1/campaigns/${longId}`, { status: 'active', tags: [longTag] });
  assert.is(put.status, 200, JSON.stringify(put.body));
  const filter = await call(ctx, 'PUT', `/v1/filters/${longFilter}`, { filter: { campaign: longId, event: 'send' } });
  assert.is(filter.status, 200, JSON.stringify(filter.body));
  const phone = await open(ctx.browser, ctx.base, { width: 390, height: 844 });
  try {
    for (const [w, label] of [[ctx.op, 'desktop'], [phone, 'phone']] as const) {
      const { page } = w;
      const fits = async (what: string) => assert.equal(await horizontalOverflow(page), [], `${what} fits (${label})`);
      await page.goto(`${ctx.base}/console/#/`);
      if (w === phone) await enterKey(page, RESTORER);
      const row = page.locator(`table.sources tbody tr[data-source="campaign:${longId}"]`);
      await row.waitFor();
      const link = row.getByRole('link', { name: longId, exact: true });
      assert.ok(await link.isVisible(), `the row links the whole id (${label})`);
      assert.is(await row.locator('.tag').textContent(), longTag);
      await fits('the sources page');
      const viewport = await page.evaluate(() => document.documentElement.clientWidth);
      const table = (await page.locator('table.sources').boundingBox())!;
      assert.ok(table.x >= 0 && table.x + table.width <= viewport, `the table (${table.x}–${table.x + table.width} px) fits ${viewport} px (${label})`);
      // Every column is on screen, the last one included.
      const last = (await row.locator('td').last().boundingBox())!;
      assert.ok(last.x + last.width <= viewport, `the last column ends at ${last.x + last.width} px (${label})`);
      await screenshot(page, `sources-long-id-${label}`, true);
      assert.equal(await accessibilityViolations(page), [], `sources page with a long id (${label})`);
      // Searched by the whole id and filtered by the long tag: the caption and the bulk button fit too.
      await page.getByLabel('Search by id or name').fill(longId);
      await page.getByLabel('Tag', { exact: true }).fill(longTag);
      await page.getByLabel('Tag', { exact: true }).press('Enter');
      await page.getByRole('button', { name: `Restore every source tagged “${longTag}”` }).waitFor();
      await eventually(async () => (await page.locator('table.sources tbody tr[data-source]').count()) === 1, 'the search finds the long id');
      assert.match((await page.locator('table.sources caption').textContent())!, new RegExp(`matching “${longId.replace(/[.]/g, '[.]')}”`));
      await fits('the sources page, searched');

      await link.click();
      const heading = page.getByRole('heading', { level: 1 });
      await page.locator('.lede code').waitFor();
      assert.is((await heading.innerText()).replace(/\s+/g, ' '), `${longId} Campaign`, 'the heading holds the whole id');
      assert.is(await page.locator('.lede code').textContent(), longId);
      assert.ok((await page.locator('.crumbs').textContent())!.endsWith(`campaign ${longId}`));
      assert.ok(page.url().endsWith(`#/campaigns/${encodeURIComponent(longId)}`), `the route encodes the id: ${page.url()}`);
      await fits('the source page');
      await screenshot(page, `source-long-id-${label}`, true);
      assert.equal(await accessibilityViolations(page), [], `source page with a long id (${label})`);

      await page.goto(`${ctx.base}/console/#/filters`);
      const card = page.getByRole('article', { name: longFilter });
      await card.getByRole('listitem').filter({ hasText: longId }).locator('.badge').waitFor();
      assert.ok(await card.getByRole('link', { name: `campaign:${longId}`, exact: true }).isVisible());
      await fits('the filters page');
      assert.equal(await accessibilityViolations(page), [], `filters page with long ids (${label})`);
      await card.getByRole('link', { name: longFilter, exact: true }).click();
      await page.getByRole('heading', { level: 1, name: `Filter ${longFilter}` }).waitFor();
      await fits('the filter page');
      await screenshot(page, `filter-long-id-${label}`, true);
    }
    assert.equal(phone.errors, []);
    assert.equal(ctx.op.errors, []);
  } finally {
    await phone.context.close();
    await call(ctx, 'DELETE', `/v1/filters/${longFilter}`);
  }
});

/**
 * Copies an e2e screenshot to docs/ for the README and docs/operating.md ("Web console"), on
 * request only (or when it is missing), so a test run leaves the tree clean.
 */
function toDocs(shot: string, name: string): void {
  const doc = join(root, 'docs', name);
  if (process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(doc)) copyFileSync(shot, doc);
}

/** Answers the page's calls to `path` with the real answer changed by `change` (what the API says while a restore runs). */
async function rewrite(page: Page, path: RegExp, change: (body: any) => any): Promise<void> {
  await page.route(path, async (route) => {
    const res = await route.fetch();
    await route.fulfill({ response: res, json: change(await res.json()) });
  });
}

test('overview: sources per tier, the hot tier\'s memory and largest sources, restores with their estimate, expiring soon, recent changes', async (ctx) => {
  // Stopped now: it expires in 30 s (TIER_EXPIRE_AFTER here), so it is in both expiry windows.
  const soon = await call(ctx, 'PUT', '/v1/campaigns/ends-soon', { status: 'stopped', stoppedAt: new Date().toISOString(), name: 'Ends soon' });
  assert.is(soon.status, 200, JSON.stringify(soon.body));
  const page = ctx.op.page;
  await page.goto(`${ctx.base}/console/#/overview`);
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  assert.is(await page.getByRole('link', { name: 'Overview' }).getAttribute('aria-current'), 'page');
  await page.locator('#hot-memory').waitFor();
  // The tier table says what the API says (sources keep changing tier here: compare until they agree).
  await eventually(async () => {
    const api = (await call(ctx, 'GET', '/v1/overview')).body;
    const shown = await page.locator('table.overview-tiers tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [tr.getAttribute('data-tier'), [...tr.querySelectorAll('td')].map((td) => td.textContent)]));
    const want = ['hot', 'restoring', 'demoting', 'expired'].map((t) => [t, [api.sources.kinds.campaign[t], api.sources.kinds.canvas[t], api.sources.tiers[t]].map(String)]);
    return JSON.stringify(shown) === JSON.stringify(want);
  }, 'the tier table agrees with GET /v1/overview');
  const first = page.locator('table.overview-top tbody tr').first();
  assert.is(await first.getAttribute('data-source'), 'campaign:spring-sale', 'the largest hot source first (3,000 users)');
  assert.match(await first.innerText(), /Spring sale 2026[\s\S]*\d+(\.\d+)? (KiB|MiB)[\s\S]*3,000/);
  assert.match(await page.locator('#hot-memory').innerText(), /^\d+(\.\d+)? (B|KiB|MiB|GiB) of Redis memory for \d+ hot sources/);
  await page.locator('.expiring li[data-source="campaign:ends-soon"]').first().waitFor();
  assert.match(await page.getByRole('heading', { name: /^In the next 7 days: \d+ sources?$/ }).innerText(), /7 days/);
  await eventually(async () => {
    const latest = (await call(ctx, 'GET', '/v1/overview?transitions=1')).body.transitions[0];
    return (await page.locator('.timeline.recent li time').first().getAttribute('datetime')) === latest.at;
  }, 'the newest transition first, as the API says');
  assert.is(await page.locator('.timeline.recent li').count(), 12, 'the twelve newest transitions');
  assert.equal(await accessibilityViolations(page), [], 'overview page');
  toDocs(await screenshot(page, 'overview', true), 'console-overview.png');

  // A restore in flight, as the API reports one (restores here finish in well under a second).
  const restoring = (o: any) => ({ ...o, restoring: [{ source: 'campaign:winter', name: 'Winter teaser', startedAt: new Date(Date.now() - 20_000).toISOString(), progress: 0.4, etaSeconds: 30 }] });
  await rewrite(page, /\/v1\/overview\?/, restoring);
  await page.reload();
  const restore = page.locator('.restores li[data-source="campaign:winter"]');
  await restore.waitFor();
  assert.match(await restore.innerText(), /Winter teaser[\s\S]*40 %[\s\S]*about 30 s left/);
  assert.equal(await accessibilityViolations(page), [], 'overview with a restore');
  await page.unroute(/\/v1\/overview\?/);
  // The sources list shows the estimate too.
  await rewrite(page, /\/v1\/sources\?/, (b) => ({
    ...b,
    items: b.items.map((s: any) => (s.id === 'winter' ? { ...s, tier: 'restoring', restore: { startedAt: new Date().toISOString(), finishedAt: null, progress: 0.42, etaSeconds: 150 } } : s)),
  }));
  await page.goto(`${ctx.base}/console/#/?q=winter`);
  const row = page.locator('table.sources tbody tr[data-source="campaign:winter"]');
  await row.locator('.restore-state').waitFor();
  assert.match(await row.locator('td[data-label="Tier"]').innerText(), /Restoring\s*42 %, about 3 min left/);
  await page.unroute(/\/v1\/sources\?/);

  const phone = await open(ctx.browser, ctx.base, { width: 390, height: 844 });
  try {
    await phone.page.goto(`${ctx.base}/console/#/overview`);
    await enterKey(phone.page, RESTORER);
    await phone.page.locator('table.overview-top tbody tr').first().waitFor();
    assert.equal(await horizontalOverflow(phone.page), [], 'the overview fits a phone');
    assert.equal(await accessibilityViolations(phone.page), [], 'overview at phone width');
    await screenshot(phone.page, 'overview-phone', true);
    assert.equal(phone.errors, []);
    assert.equal(phone.foreign, []);
  } finally {
    await phone.context.close();
  }
  assert.equal(ctx.op.errors, []);
});

test('filter playground: a registered filter\'s count and audience, from hot and from history; refusals in words', async (ctx) => {
  const page = ctx.op.page;
  await page.goto(`${ctx.base}/console/#/playground`);
  await page.getByRole('heading', { level: 1, name: 'Filter playground' }).waitFor();
  const picker = page.getByLabel('Registered filter');
  await picker.locator('option[value="spring-non-clickers"]').waitFor({ state: 'attached' });
  await picker.selectOption('spring-non-clickers');
  const json = page.getByLabel('Filter (JSON)');
  assert.ok(await json.evaluate((t) => (t as HTMLTextAreaElement).readOnly), 'a registered filter is shown, not edited');
  assert.match(await json.inputValue(), /"not": \{\s+"campaign": "spring-sale"/);
  const run = page.getByRole('button', { name: 'Run' });
  const want = (await call(ctx, 'POST', '/v1/filters/spring-non-clickers/count', {})).body.count;
  const sample = (await call(ctx, 'POST', '/v1/filters/spring-non-clickers/audience', { limit: 20 })).body.users;
  await run.click();
  const count = page.locator('#pg-count');
  await count.waitFor();
  assert.is(await count.innerText(), `${want.toLocaleString('en-US')} users match.`);
  assert.match(await page.locator('#pg-served').innerText(), /^Served from hot — the real-time index/);
  assert.equal(await page.locator('.sample li').allInnerTexts(), sample);
  assert.is(await page.evaluate(() => document.activeElement?.id), 'pg-result', 'focus moves to the result');
  assert.equal(await accessibilityViolations(page), [], 'playground with a result');
  toDocs(await screenshot(page, 'playground', true), 'console-playground.png');

  await page.getByLabel(/^Ask history/).check();
  await run.click();
  await page.locator('#pg-served', { hasText: 'Served from history' }).waitFor();
  assert.is(await count.innerText(), `${want.toLocaleString('en-US')} users match.`, 'history gives the same count');

  // A written filter over an expired campaign: refused, in words, with the way out.
  await picker.selectOption('');
  await page.getByLabel(/^Ask history/).uncheck();
  await json.fill(JSON.stringify({ campaign: 'autumn-b', event: 'send' }));
  await run.click();
  const refusal = page.locator('#pg-error');
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /^Campaign autumn-b is in long-term storage: the real-time index no longer holds it\. Restore it \(from the page linked\), or ask history/);
  assert.is(await refusal.getByRole('link', { name: 'Campaign autumn-b' }).getAttribute('href'), '#/campaigns/autumn-b');
  assert.equal(await accessibilityViolations(page), [], 'playground with a refusal');
  await screenshot(page, 'playground-expired', true);
  await refusal.getByRole('button', { name: 'Ask history instead' }).click();
  await page.locator('#pg-served', { hasText: 'Served from history' }).waitFor();
  assert.is(await count.innerText(), '40 users match.');
  assert.ok(await page.getByLabel(/^Ask history/).isChecked());

  await json.fill('{"and": []}');
  await run.click();
  await refusal.filter({ hasText: 'The filter is not valid at filter.and: must be a non-empty array.' }).waitFor();
  await json.fill('{"campaign": ');
  await run.click();
  await page.getByRole('alert').filter({ hasText: 'The filter is not valid JSON' }).waitFor();

  // What the API answers under load or while a store is away, in words.
  await json.fill(JSON.stringify({ campaign: 'spring-sale', event: 'send' }));
  for (const [status, error, words] of [
    [429, 'rate_limited', 'too many requests for this key right now'],
    [503, 'store_unavailable', 'a store behind tierstream (Redis, ClickHouse or NATS) did not answer'],
    [403, 'forbidden', 'this API key lacks the permission for it'],
  ] as const) {
    await page.route(/\/v1\/retargeting\/count$/, (route) => route.fulfill({ status, json: { error, message: `${error} (test)` } }));
    await run.click();
    await refusal.filter({ hasText: `Could not run the filter: ${words}` }).waitFor();
    await page.unroute(/\/v1\/retargeting\/count$/);
  }

  const phone = await open(ctx.browser, ctx.base, { width: 390, height: 844 });
  try {
    await phone.page.goto(`${ctx.base}/console/#/playground`);
    await enterKey(phone.page, RESTORER);
    await phone.page.getByRole('button', { name: 'Run' }).click();
    await phone.page.locator('#pg-count, #pg-error').first().waitFor();
    assert.equal(await horizontalOverflow(phone.page), [], 'the playground fits a phone');
    assert.equal(await accessibilityViolations(phone.page), [], 'playground at phone width');
    await screenshot(phone.page, 'playground-phone', true);
    assert.equal(phone.errors, []);
  } finally {
    await phone.context.close();
  }
  assert.equal(ctx.op.errors, []);
  assert.equal(ctx.op.foreign, []);
});

/** A new tab with the admin key entered (PATCH, filters, erasures and dead letters need it). */
async function adminTab(ctx: Ctx, hash: string, viewport?: { width: number; height: number }): Promise<Watched> {
  const w = await open(ctx.browser, ctx.base, viewport);
  // The sources page asks the API at once, so the key field shows; then the page wanted.
  await w.page.goto(`${ctx.base}/console/#/`);
  await enterKey(w.page, ADMIN);
  await w.page.locator('table.sources tbody tr[data-source]').first().waitFor();
  await w.page.goto(`${ctx.base}/console/${hash}`);
  return w;
}

test('the source page acts: stop and activate, rename, tag and untag; the configured retention in words', async (ctx) => {
  assert.is((await call(ctx, 'PUT', '/v1/campaigns/acts', { status: 'active', name: 'Acts' })).status, 200);
  const w = await adminTab(ctx, '#/campaigns/acts');
  try {
    const { page } = w;
    await page.getByRole('heading', { level: 1, name: /^Acts/ }).waitFor();
    const state = async () => (await call(ctx, 'GET', '/v1/campaigns/acts')).body;
    // TIER_EXPIRE_AFTER is PT30S here: said so, not "three months by default".
    await page.locator('#expiry', { hasText: 'expires 30 seconds after it stops (the configured retention, TIER_EXPIRE_AFTER)' }).waitFor();
    assert.not.match(await page.locator('main').innerText(), /three months/);

    const manage = page.getByRole('region', { name: 'Manage' });
    await manage.getByRole('button', { name: 'Stop this campaign' }).click();
    await manage.getByRole('button', { name: 'Set this campaign active' }).waitFor();
    assert.is((await state()).status, 'stopped');
    assert.match(await page.locator('#expiry').innerText(), /^Hot until .* it stopped/);
    await manage.getByRole('button', { name: 'Set this campaign active' }).click();
    await manage.getByRole('button', { name: 'Stop this campaign' }).waitFor();
    assert.is((await state()).status, 'active');

    await manage.getByLabel('Name', { exact: true }).fill('Acts, renamed');
    await manage.getByRole('button', { name: 'Rename' }).click();
    await page.getByRole('heading', { level: 1, name: /^Acts, renamed/ }).waitFor();
    assert.is((await state()).name, 'Acts, renamed');

    await manage.getByLabel('New tag').fill('promo');
    await manage.getByLabel('New tag').press('Enter');
    await manage.getByRole('button', { name: 'Remove tag promo' }).waitFor();
    await manage.getByLabel('New tag').fill('q4');
    await manage.getByRole('button', { name: 'Add tag' }).click();
    await manage.getByRole('button', { name: 'Remove tag q4' }).waitFor();
    assert.equal((await state()).tags, ['promo', 'q4']);
    assert.is(await manage.getByLabel('New tag').inputValue(), '', 'the field is emptied once the tag is added');
    assert.equal(await accessibilityViolations(page), [], 'source page with its actions');
    toDocs(await screenshot(page, 'source-manage', true), 'console-source-manage.png');
    await manage.getByRole('button', { name: 'Remove tag promo' }).click();
    await eventually(async () => JSON.stringify((await state()).tags) === '["q4"]', 'promo removed');
    await manage.getByRole('button', { name: 'Remove tag promo' }).waitFor({ state: 'detached' });

    // A key without the admin scope is told so, in words.
    const reader = await open(ctx.browser, ctx.base);
    try {
      await reader.page.goto(`${ctx.base}/console/#/campaigns/acts`);
      await enterKey(reader.page, RESTORER);
      await reader.page.getByRole('button', { name: 'Stop this campaign' }).click();
      await reader.page.getByRole('alert').filter({ hasText: 'Could not stop campaign acts: this API key lacks the permission for it' }).waitFor();
      assert.is((await state()).status, 'active');
    } finally {
      await reader.context.close();
    }
    assert.equal(w.errors, []);
    assert.equal(w.foreign, []);
  } finally {
    await w.context.close();
  }
});

test('filters: the playground\'s example names a source that exists and its hint links the grammar; register from the playground, delete from the filters page', async (ctx) => {
  const w = await adminTab(ctx, '#/playground');
  try {
    const { page } = w;
    const json = page.getByLabel('Filter (JSON)');
    const first = (await call(ctx, 'GET', '/v1/sources?limit=1')).body.items[0];
    await eventually(async () => (await json.inputValue()).includes(`"${first.kind}": ${JSON.stringify(first.id)}`), 'the example names the first source');
    const hint = page.getByRole('link', { name: 'docs/filters.md' });
    assert.is(await hint.getAttribute('href'), '/console/docs/filters.md');
    // The pages are served from docs/ as text (errors.md is there on every branch).
    const doc = await fetch(`${ctx.base}/console/docs/errors.md`);
    assert.is(doc.status, 200);
    assert.match(doc.headers.get('content-type') ?? '', /^text\/plain/);
    for (const bad of ['..%2Fpackage.json', 'README.md', 'nope.md']) assert.is((await fetch(`${ctx.base}/console/docs/${bad}`)).status, 404, bad);

    await json.fill(JSON.stringify({ campaign: 'winter', event: 'open' }));
    await page.getByLabel('Register the filter above as').fill('winter-openers');
    await page.getByRole('button', { name: 'Register filter' }).click();
    await page.locator('#pg-saved', { hasText: 'Filter winter-openers registered: it pins 1 source, which stay hot while it is registered.' }).waitFor();
    const put = await call(ctx, 'GET', '/v1/filters/winter-openers');
    assert.is(put.status, 200);
    assert.equal(put.body.filter, { campaign: 'winter', event: 'open' });
    assert.ok(await page.getByLabel('Registered filter').locator('option[value="winter-openers"]').count(), 'the picker lists it');
    // A filter the API refuses: its words, nothing registered.
    await json.fill(JSON.stringify({ campaign: 'winter', evnt: 'open' }));
    await page.getByLabel('Register the filter above as').fill('bad-one');
    await page.getByRole('button', { name: 'Register filter' }).click();
    await page.getByRole('alert').filter({ hasText: 'The filter is not valid at filter.evnt' }).waitFor();
    assert.is((await call(ctx, 'GET', '/v1/filters/bad-one')).status, 404);
    assert.equal(await accessibilityViolations(page), [], 'playground with its register form');

    await page.goto(`${ctx.base}/console/#/filters`);
    const card = page.getByRole('article', { name: 'winter-openers' });
    await card.waitFor();
    await card.getByRole('button', { name: 'Delete filter winter-openers' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete filter winter-openers?' });
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /It pins 1 source: unless another filter uses them, their expiry clocks restart/);
    assert.equal(await accessibilityViolations(page), [], 'delete confirmation');
    await dialog.getByRole('button', { name: 'Delete filter' }).click();
    await page.getByRole('status').filter({ hasText: 'Filter winter-openers deleted.' }).first().waitFor();
    await card.waitFor({ state: 'detached' });
    assert.is((await call(ctx, 'GET', '/v1/filters/winter-openers')).status, 404);
    assert.equal(w.errors, []);
    assert.equal(w.foreign, []);
  } finally {
    await w.context.close();
  }
});

test('the user page: interactions per source, the filters matched and an explain as the API answers them; erasure after typing the user id', async (ctx) => {
  const w = await adminTab(ctx, '#/users');
  try {
    const { page } = w;
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await page.getByLabel('User id').fill('u4');
    await page.getByLabel('Sources', { exact: true }).fill('campaign:winter, campaign:autumn-a');
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByRole('heading', { level: 1, name: 'User u4' }).waitFor();
    const row = page.locator('table.user-sources tr[data-source="campaign:winter"]');
    await row.waitFor();
    const want = (await call(ctx, 'GET', '/v1/users/u4/interactions?sources=campaign:winter')).body.sources[0].latest;
    assert.equal(Object.keys(want).sort(), ['click', 'open', 'send'], 'u4 sent, opened and clicked (seed)');
    for (const [type, at] of Object.entries(want)) {
      assert.is(await row.locator('li', { hasText: type }).locator('time').getAttribute('datetime'), at, type);
    }
    assert.ok(await page.locator('table.user-sources tr[data-source="campaign:autumn-a"]').isVisible());
    // The filters u4 matches, as GET /v1/users/u4/filters answers.
    const mine = (await call(ctx, 'GET', '/v1/users/u4/filters')).body as { matched: string[] };
    const matchedSection = page.locator('#user-filters');
    await matchedSection.getByRole('heading', { name: 'Filters matched' }).waitFor();
    if (mine.matched.length) for (const id of mine.matched) await matchedSection.getByRole('link', { name: id }).waitFor();
    else await matchedSection.getByText('u4 matches no registered filter.').waitFor();
    assert.is(await page.getByRole('alert').count(), 0);
    assert.equal(await accessibilityViolations(page), [], 'user page');
    toDocs(await screenshot(page, 'user', true), 'console-user.png');
    const phone = await adminTab(ctx, '#/users/u4?sources=campaign:winter', { width: 390, height: 844 });
    try {
      await phone.page.locator('table.user-sources tr[data-source="campaign:winter"]').waitFor();
      assert.equal(await horizontalOverflow(phone.page), [], 'the user page fits a phone');
      assert.equal(await accessibilityViolations(phone.page), [], 'user page at phone width');
      await screenshot(phone.page, 'user-phone', true);
    } finally {
      await phone.context.close();
    }

    // Explain: the filter picked, as POST /v1/retargeting/explain answers it, a node per line.
    const explain = page.getByRole('region', { name: 'Explain' });
    const picked = await explain.locator('#explain-filter').inputValue();
    const why = (await call(ctx, 'POST', '/v1/retargeting/explain', { filterId: picked, userId: 'u4' })).body as { matched: boolean; tree: unknown };
    await explain.getByRole('button', { name: 'Explain' }).click();
    await explain.locator('#explain-result', { hasText: `u4 ${why.matched ? 'matches' : 'does not match'} filter ${picked}` }).waitFor();
    const nodes = (n: unknown, yes: boolean): number => {
      const o = n as { matched: boolean; and?: unknown[]; or?: unknown[]; not?: unknown };
      return (o.matched === yes ? 1 : 0) + [...(o.and ?? []), ...(o.or ?? []), ...(o.not ? [o.not] : [])].reduce<number>((a, m) => a + nodes(m, yes), 0);
    };
    assert.is(await explain.locator('#explain-result .yes').count(), nodes(why.tree, true));
    assert.is(await explain.locator('#explain-result .no').count(), nodes(why.tree, false));

    // Erasure: the button works only once the user id is typed exactly.
    await page.getByRole('button', { name: 'Erase u4…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Erase user u4?' });
    await dialog.waitFor();
    const confirm = dialog.getByRole('button', { name: 'Erase for good' });
    assert.ok(await confirm.isDisabled());
    await dialog.getByLabel('Type the user id (u4) to confirm').fill('u40');
    assert.ok(await confirm.isDisabled(), 'a near miss does not do');
    await dialog.getByLabel('Type the user id (u4) to confirm').press('Enter');
    assert.ok(await dialog.isVisible(), 'Enter with the wrong id does nothing');
    assert.equal(await accessibilityViolations(page), [], 'erasure confirmation');
    await screenshot(page, 'user-erase-confirm');
    await dialog.getByLabel('Type the user id (u4) to confirm').fill('u4');
    await confirm.click();
    await page.locator('#user-erased', { hasText: /^Erasure \S+ of u4 requested/ }).waitFor();
    await page.locator('#user-erased', { hasText: 'done, the user is gone from every answer' }).waitFor({ timeout: 30_000 });
    await eventually(async () => {
      const latest = (await call(ctx, 'GET', '/v1/users/u4/interactions?sources=campaign:winter')).body.sources[0].latest;
      return latest && Object.keys(latest).length === 0;
    }, 'u4 erased', 30_000);
    assert.equal(w.errors, []);
    assert.equal(w.foreign, []);
  } finally {
    await w.context.close();
  }
});

test('dead letters: counts by code, the newest letters, replay of the selected after a confirmation', async (ctx) => {
  const subj = `${natsNames(ctx.stack.ns).subjectPrefix}send`;
  await ctx.stack.publishRaw(subj, '{"id": "broken",');
  await ctx.stack.publishRaw(subj, JSON.stringify({ id: 'late', type: 'send', userId: 'u1', campaignId: 'dl', time: '2026-12-01T00:00:00' }));
  await eventually(async () => (await ctx.stack.dlq()).length === 2, 'two dead letters');
  const w = await adminTab(ctx, '#/dead-letters');
  try {
    const { page } = w;
    await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
    await page.locator('#dl-total', { hasText: /^2 dead letters in the stream\.$/ }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('table.dl-codes tbody tr').evaluateAll((trs) => trs.map((tr) => tr.textContent)), ['invalid_json1', 'invalid_time1']);
    const rows = page.locator('table.letters tbody tr[data-seq]');
    assert.is(await rows.count(), 2);
    const seqs = await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq'))));
    assert.ok(seqs[0]! > seqs[1]!, 'newest first');
    assert.equal(await accessibilityViolations(page), [], 'dead letters page');
    toDocs(await screenshot(page, 'dead-letters', true), 'console-dead-letters.png');
    const phone = await adminTab(ctx, '#/dead-letters', { width: 390, height: 844 });
    try {
      await phone.page.locator('table.letters tbody tr[data-seq]').first().waitFor();
      assert.equal(await horizontalOverflow(phone.page), [], 'the dead-letters page fits a phone');
      assert.equal(await accessibilityViolations(phone.page), [], 'dead-letters page at phone width');
      await screenshot(phone.page, 'dead-letters-phone', true);
    } finally {
      await phone.context.close();
    }

    const json = rows.filter({ hasText: 'invalid_json' });
    const seq = Number(await json.getAttribute('data-seq'));
    await json.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Replay selected (1)' }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay 1 dead letter?' });
    await dialog.waitFor();
    assert.match(await dialog.locator('#confirm-what').innerText(), /^1 letter \(invalid_json\) will be published again/);
    await dialog.getByRole('button', { name: 'Replay 1 letter' }).click();
    await page.locator('#dl-result', { hasText: 'Replay: 1 replayed.' }).waitFor();
    await page.locator(`table.letters tbody tr[data-seq="${seq}"]`, { hasText: 'replayed ' }).waitFor();
    // Still not JSON: a new letter, counted when the counts are next read.
    await page.locator('#dl-total', { hasText: /^3 dead letters/ }).waitFor({ timeout: 30_000 });
    const replayed = (await call(ctx, 'GET', `/v1/dead-letters?cursor=${seq}&limit=1`)).body.items[0];
    assert.type(replayed.replayedAt, 'string');
    assert.equal(w.errors, []);
    assert.equal(w.foreign, []);
  } finally {
    await w.context.close();
  }
});

test('the overview says which store is away and shows the rest; readiness in the header; tier reasons in words', async (ctx) => {
  const page = ctx.op.page;
  await page.goto(`${ctx.base}/console/#/overview`);
  await page.locator('#readiness', { hasText: 'Ready' }).waitFor();
  await page.locator('#hot-memory').waitFor();
  assert.match(await page.locator('#retention').innerText(), /stay in the real-time index for 30 seconds after they stop/);
  const reasons = (await page.locator('.timeline.recent .reason').allInnerTexts()).join('\n');
  assert.not.match(reasons, /keys removed|aggregate rows|\d{4}-\d\d-\d\dT/, 'no internal counts, no raw ISO times');

  // Redis away, as the API answers then (tested against a hung Redis in the integration suite).
  await rewrite(page, /\/v1\/overview\?/, (o) => ({ ...o, hot: null, unavailable: [{ store: 'redis', message: 'no measurement within 2 s' }] }));
  await page.route(/\/readyz$/, (route) => route.fulfill({ status: 503, json: { error: 'not_ready', message: 'redis: timeout', checks: { redis: 'timeout' } } }));
  await page.reload();
  await page.locator('#overview-partial', { hasText: 'Shown without Redis (the real-time index), which did not answer' }).waitFor();
  assert.match(await page.locator('#hot-unavailable').innerText(), /^Redis did not answer \(no measurement within 2 s\)/);
  assert.ok(await page.locator('table.overview-tiers').isVisible(), 'the tiers from the registry are shown');
  await page.locator('#readiness', { hasText: 'Not ready: redis: timeout' }).waitFor();
  assert.is(await page.getByRole('alert').count(), 0, 'no error: the page shows what it has');
  assert.is(await page.getByText('Loading…').count(), 0);
  assert.equal(await accessibilityViolations(page), [], 'overview with Redis away');
  await screenshot(page, 'overview-redis-away', true);
  await page.unroute(/\/v1\/overview\?/);
  await page.unroute(/\/readyz$/);
  await page.reload();
  await page.locator('#readiness', { hasText: 'Ready' }).waitFor();
  assert.equal(ctx.op.errors, []);
});

suiteOf.run();
