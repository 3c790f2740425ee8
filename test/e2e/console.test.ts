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
  // The README's picture: refreshed on request only, so a test run leaves the tree clean.
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
  assert.match(await page.locator('.timeline li').first().innerText(), /Hot[\s\S]*restore finished/);
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

  await page.getByRole('button', { name: 'Restore every source tagged “autumn”' }).click();
  await page.getByRole('status').filter({ hasText: 'Restore of the tag “autumn”: 3 sources restoring.' }).waitFor();
  await eventually(async () => {
    const badges = await rows.locator('.badge').allInnerTexts();
    return badges.length === 3 && badges.every((b) => b === 'Hot');
  }, 'the table shows the tagged sources hot (refreshing by itself)', 60_000);
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

/** Copies an e2e screenshot to docs/ for the README, on request only (or when it is missing), so a test run leaves the tree clean. */
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

suiteOf.run();
