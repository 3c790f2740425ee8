import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, send, startStack } from './helpers.js';

/** The expiry preview (contract: "Expiry preview and restore estimate"), against the states. */
const test = suite('expiring');
const DAY = 86_400_000;

test('hot, stopped, unpinned sources expiring within the window, soonest first, paged, exact against their states', async () => {
  // A 30-day expiry: nothing here expires during the test; scans still run.
  const stack = await startStack(undefined, {}, { TIER_EXPIRE_AFTER: 'P30D', TIER_SCAN_INTERVAL: 'PT0.2S' });
  try {
    const now = Date.now();
    const stop = (path: string, daysAgo: number, tags: string[] = []) =>
      send(stack.ts, 'PUT', path, { status: 'stopped', stoppedAt: new Date(now - daysAgo * DAY).toISOString(), tags });
    await stop('/v1/campaigns/in1d', 29, ['spring']);
    await stop('/v1/canvases/in2d', 28);
    await stop('/v1/campaigns/in5d', 25);
    await stop('/v1/campaigns/in10d', 20);
    await stop('/v1/campaigns/pinned', 29);
    await send(stack.ts, 'PUT', '/v1/campaigns/running', { status: 'active' });
    assert.is((await send(stack.ts, 'PUT', '/v1/filters/keep', { filter: { campaign: 'pinned', event: 'send' } })).status, 200);
    const week = await eventually(async () => {
      const r = await getJson(stack.ts, '/v1/expiring');
      return r.body.items?.length === 3 ? r.body : undefined;
    }, 'three expiring within P7D');
    assert.equal(week.items.map((i: { source: string }) => i.source), ['campaign:in1d', 'canvas:in2d', 'campaign:in5d']);
    assert.is(week.cursor, null);
    for (const item of week.items) {
      const [kind, id] = item.source.split(':');
      const state = (await getJson(stack.ts, `/v1/${kind === 'campaign' ? 'campaigns' : 'canvases'}/${id}`)).body;
      assert.is(item.expiresAt, state.expiresAt, item.source);
      assert.is(item.stoppedAt, state.stoppedAt, item.source);
      assert.equal(item.tags, state.tags, item.source);
    }
    // Pages of one follow each other with the cursor and give the same list.
    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const r = await getJson(stack.ts, `/v1/expiring?within=P30D&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      assert.is(r.status, 200);
      pages.push(...r.body.items.map((i: { source: string }) => i.source));
      cursor = r.body.cursor;
    } while (cursor);
    assert.equal(pages, ['campaign:in1d', 'canvas:in2d', 'campaign:in5d', 'campaign:in10d']);
    for (const bad of ['P7X', 'P999Y', '7']) {
      const r = await getJson(stack.ts, `/v1/expiring?within=${bad}`);
      assert.is(r.status, 400, bad);
      assert.is(r.body.error, 'invalid_request', bad);
    }
    assert.is((await getJson(stack.ts, '/v1/expiring?cursor=bm9wZQ')).body.error, 'invalid_request');
  } finally {
    await stack.stop();
  }
});

test.run();
