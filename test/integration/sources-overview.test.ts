import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, send, startStack, type Stack } from './helpers.js';
import { buildApp } from '../../api/index.js';
import { createLookup } from '../../engine/lookup/index.js';

/** GET /v1/sources (combined listing with search) and GET /v1/overview, against the states they summarise. */
const test = suite('sources listing and overview');
const DAY = 86_400_000;

const pathOf = (source: string) => {
  const [kind, id] = source.split(':') as [string, string];
  return `/v1/${kind === 'campaign' ? 'campaigns' : 'canvases'}/${id}`;
};

/** `users` users with a send each (and an open for every other), for a campaign or canvas. */
async function seed(stack: Stack, source: string, users: number): Promise<number> {
  const [kind, id] = source.split(':') as [string, string];
  const ref = kind === 'campaign' ? { campaignId: id } : { canvasId: id, stepId: 's1' };
  const events: object[] = [];
  for (let u = 0; u < users; u++) {
    events.push({ id: `${id}-s${u}`, type: 'send', userId: `u${u}`, ...ref, time: Date.now() - 3_600_000 + u });
    if (u % 2 === 0) events.push({ id: `${id}-o${u}`, type: 'open', userId: `u${u}`, ...ref, variantId: 'B', time: Date.now() - 1_800_000 + u });
  }
  await stack.publish(events);
  // History is written before Redis, so the hot count is waited for too.
  await eventually(async () => {
    const counts = (await getJson(stack.ts, pathOf(source))).body.counts;
    return counts?.history === events.length && counts?.hot === users;
  }, `${source} ingested`);
  return events.length;
}

let stack: Stack;
test.before(async () => {
  // A 30-day expiry: nothing expires by itself during the test.
  stack = await startStack(undefined, {}, { TIER_EXPIRE_AFTER: 'P30D', TIER_SCAN_INTERVAL: 'PT0.2S' });
});
test.after(async () => {
  await stack?.stop();
});

test('GET /v1/sources: both kinds in source-name order, filters, search by id or name, cursor pages, items equal to the states', async () => {
  await Promise.all([seed(stack, 'campaign:big', 2_000), seed(stack, 'campaign:small', 30), seed(stack, 'canvas:flow', 300)]);
  const now = Date.now();
  assert.is((await send(stack.ts, 'PUT', '/v1/campaigns/small', { status: 'stopped', stoppedAt: new Date(now - 25 * DAY).toISOString(), name: 'Spring Teaser', tags: ['spring'] })).status, 200);
  assert.is((await send(stack.ts, 'PUT', '/v1/canvases/flow', { status: 'stopped', stoppedAt: new Date(now - 10 * DAY).toISOString(), name: 'Onboarding flow', tags: ['spring'] })).status, 200);
  assert.is((await send(stack.ts, 'PUT', '/v1/campaigns/empty', { status: 'active', name: 'Nothing yet' })).status, 200);
  assert.is((await send(stack.ts, 'POST', '/v1/campaigns/big/demote')).status, 202);
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/big')).body.tier === 'expired', 'big expired');

  const all = await getJson(stack.ts, '/v1/sources');
  assert.is(all.status, 200, JSON.stringify(all.body));
  const names = all.body.items.map((s: { kind: string; id: string }) => `${s.kind}:${s.id}`);
  assert.equal(names, ['campaign:big', 'campaign:empty', 'campaign:small', 'canvas:flow']);
  assert.is(all.body.cursor, null);
  // Each item is the source's state as GET /v1/<kind>/:id gives it, counts included (one grouped query).
  for (const item of all.body.items) {
    const state = (await getJson(stack.ts, pathOf(`${item.kind}:${item.id}`))).body;
    assert.equal(item, state, item.id);
  }
  const byName = Object.fromEntries(all.body.items.map((s: any) => [s.id, s]));
  assert.equal(byName.big.counts, { hot: null, history: 3_000 });
  assert.equal(byName.small.counts, { hot: 30, history: 45 });
  assert.equal(byName.flow.counts, { hot: 300, history: 450 });
  assert.equal(byName.empty.counts, { hot: 0, history: 0 });

  const ids = async (query: string) => {
    const r = await getJson(stack.ts, `/v1/sources?${query}`);
    assert.is(r.status, 200, `${query}: ${JSON.stringify(r.body)}`);
    return r.body.items.map((s: { kind: string; id: string }) => `${s.kind}:${s.id}`);
  };
  assert.equal(await ids('kind=canvas'), ['canvas:flow']);
  assert.equal(await ids('tier=expired'), ['campaign:big']);
  assert.equal(await ids('status=stopped'), ['campaign:small', 'canvas:flow']);
  assert.equal(await ids('tag=spring'), ['campaign:small', 'canvas:flow']);
  assert.equal(await ids('tag=spring&kind=campaign'), ['campaign:small']);
  assert.equal(await ids('q=TEASER'), ['campaign:small'], 'by name, case-insensitive');
  assert.equal(await ids('q=fl'), ['canvas:flow'], 'by id');
  assert.equal(await ids('q=o'), ['campaign:empty', 'canvas:flow'], 'id or name');
  assert.equal(await ids('q=nothing-like-it'), []);

  // Pages of one follow each other by cursor and give the whole listing once.
  const walked: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const r = await getJson(stack.ts, `/v1/sources?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
    walked.push(...r.body.items.map((s: { kind: string; id: string }) => `${s.kind}:${s.id}`));
    cursor = r.body.cursor;
    pages++;
  } while (cursor);
  assert.equal(walked, names);
  assert.is(pages, 2);

  for (const bad of ['kind=segment', 'tier=warm', 'limit=0', 'limit=501', 'cursor=bm9wZQ', 'tag=a%20b', 'color=red', `q=${'x'.repeat(257)}`]) {
    const r = await getJson(stack.ts, `/v1/sources?${bad}`);
    assert.is(r.status, 400, bad);
    assert.is(r.body.error, 'invalid_request', bad);
  }
  // The per-kind listing gives the same states (its counts now come from the same grouped reads).
  const campaigns = await getJson(stack.ts, '/v1/campaigns');
  assert.equal(campaigns.body.items, all.body.items.filter((s: { kind: string }) => s.kind === 'campaign'));
});

test('GET /v1/overview: tiers, hot memory and the largest hot sources, expiring counts, recent transitions', async () => {
  await seed(stack, 'campaign:huge', 5_000);
  const r = await getJson(stack.ts, '/v1/overview?top=2&transitions=5');
  assert.is(r.status, 200, JSON.stringify(r.body));
  const o = r.body;
  assert.equal(o.sources.tiers, { hot: 4, demoting: 0, expired: 1, restoring: 0 });
  assert.equal(o.sources.kinds.campaign, { hot: 3, demoting: 0, expired: 1, restoring: 0 });
  assert.equal(o.sources.kinds.canvas, { hot: 1, demoting: 0, expired: 0, restoring: 0 });
  assert.is(o.sources.total, 5);
  assert.is(o.hot.sources, 4);
  assert.is(o.hot.measuredSources, 4);
  assert.is(o.hot.users, 5_000 + 300 + 30);
  assert.equal(o.hot.top.map((t: { source: string }) => t.source), ['campaign:huge', 'canvas:flow'], 'largest first');
  assert.equal(o.hot.top[1], { source: 'canvas:flow', kind: 'canvas', id: 'flow', name: 'Onboarding flow', users: 300, memoryBytes: o.hot.top[1].memoryBytes });
  // 5,000 users, each an id of 5 bytes or more and a value of one 7-byte record at least.
  assert.ok(o.hot.top[0].memoryBytes > 5_000 * 12, `huge takes ${o.hot.top[0].memoryBytes} bytes`);
  assert.ok(o.hot.top[0].memoryBytes > o.hot.top[1].memoryBytes);
  assert.ok(o.hot.memoryBytes >= o.hot.top[0].memoryBytes + o.hot.top[1].memoryBytes);
  assert.ok(Math.abs(Date.parse(o.hot.measuredAt) - Date.now()) < 60_000);
  // small stopped 25 days ago, flow 10 days ago, with a 30-day expiry: in 5 and 20 days.
  assert.equal(o.expiring, { P7D: 1, P30D: 2 });
  assert.equal(o.restoring, []);
  assert.is(o.transitions.length, 5);
  const times = o.transitions.map((t: { at: string }) => Date.parse(t.at));
  assert.equal(times, [...times].sort((a: number, b: number) => b - a), 'newest first');
  assert.equal(o.transitions.slice(0, 2).map((t: any) => [t.source, t.tier]), [['campaign:huge', 'hot'], ['campaign:big', 'expired']]);
  const big = (await getJson(stack.ts, '/v1/campaigns/big')).body;
  assert.equal(o.transitions[1], { source: 'campaign:big', name: null, ...big.transitions.at(-1) });

  for (const bad of ['top=51', 'transitions=101', 'top=x', 'other=1']) assert.is((await getJson(stack.ts, `/v1/overview?${bad}`)).status, 400, bad);
  // A restore in flight is listed with its estimate (null until its first chunk is written).
  assert.is((await send(stack.ts, 'POST', '/v1/campaigns/big/restore')).status, 202);
  const during = (await getJson(stack.ts, '/v1/overview')).body;
  if (during.sources.tiers.restoring === 1) {
    assert.is(during.restoring.length, 1);
    assert.is(during.restoring[0].source, 'campaign:big');
    assert.ok(during.restoring[0].etaSeconds === null || Number.isInteger(during.restoring[0].etaSeconds));
  }
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/big')).body.tier === 'hot', 'big restored');
  const after = (await getJson(stack.ts, '/v1/overview?transitions=2')).body;
  assert.equal(after.transitions.map((t: any) => [t.source, t.tier]), [['campaign:big', 'hot'], ['campaign:big', 'restoring']]);
});

test('GET /v1/overview with Redis away: the registry\'s part answered, hot null, Redis named; the configured retention', async () => {
  const { ts } = stack;
  const ok = await getJson(ts, '/v1/overview');
  assert.equal(ok.body.retention, { expireAfter: 'P30D' });
  assert.equal(ok.body.unavailable, []);
  // The same engine behind a second app whose Redis never answers a size (what a Redis timeout looks like).
  const hung = new Proxy(ts.hot, {
    get: (target, key) => (key === 'countUsersBySource' ? () => new Promise(() => undefined)
      : key === 'memoryBySource' ? async () => { throw new Error('Connection is closed.'); }
        : Reflect.get(target, key)),
  });
  for (const [hot, message] of [[hung, /no measurement within 2 s/], [new Proxy(ts.hot, {
    get: (target, key) => (key === 'memoryBySource' ? async () => { throw new Error('Connection is closed.'); } : Reflect.get(target, key)),
  }), /Connection is closed/]] as const) {
    const app = buildApp({
      registry: ts.registry, hot, history: ts.history, metrics: ts.metrics, tiers: ts.tiers, filters: ts.filters, erasures: ts.erasures,
      lookup: createLookup({ registry: ts.registry, hot, history: ts.history }),
      readiness: async () => ({}),
    });
    try {
      const r = await app.inject({ method: 'GET', url: '/v1/overview' });
      assert.is(r.statusCode, 200, r.body);
      const body = r.json();
      assert.is(body.hot, null);
      assert.is(body.unavailable.length, 1);
      assert.is(body.unavailable[0].store, 'redis');
      assert.match(body.unavailable[0].message, message);
      assert.equal(body.sources, ok.body.sources, 'the registry\'s counts are there');
      assert.equal(body.expiring, ok.body.expiring);
      assert.equal(body.retention, { expireAfter: null }, 'not told: null');
    } finally {
      await app.close();
    }
  }
});

test('the OpenAPI document describes both routes: operationId, summary, bearer, response schemas', async () => {
  const spec = (await getJson(stack.ts, '/docs/json')).body;
  for (const [path, id] of [['/v1/sources', 'listSources'], ['/v1/overview', 'getOverview']] as const) {
    const op = spec.paths[path]?.get;
    assert.ok(op, path);
    assert.is(op.operationId, id);
    assert.ok(op.summary);
    assert.equal(op.security, [{ bearer: [] }]);
    for (const code of ['200', '400', '401', '403', '429', '503']) assert.ok(op.responses[code], `${path} ${code}`);
  }
});

test.run();
