import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, send, startStack, type Stack } from './helpers.js';
import { natsNames } from '../../storage/nats/index.js';
import { rng } from '../../scripts/generate.js';
import { WITHIN_MS, leafWindow, matchingUsers, randomFilter as randomFilterOver } from '../support/filter-oracle.js';

/**
 * Count leaves, explain and a user's registered filters, against a brute-force reading of the
 * contract over the raw events (no code shared with the engine), hot and history.
 */
const test = suite<{ stack: Stack }>('explain');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const now0 = Math.floor(Date.now() / HOUR) * HOUR;
const rand = rng(26);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

type Ev = { id: string; type: string; userId: string; campaignId?: string; canvasId?: string; variantId?: string; stepId?: string; time: number };
const SOURCES = [{ campaignId: 'xA' }, { campaignId: 'xB' }, { canvasId: 'xC' }] as const;
/** Tags set once: t1 on xA and xC, t2 on xB. */
const TAGS: Record<string, string[]> = { 'c:xA': ['t1'], 'c:xB': ['t2'], 'v:xC': ['t1'] };
const TYPES = ['send', 'open', 'click'] as const;
const USERS = Array.from({ length: 30 }, (_, i) => `xu${i}`);
// Few users and types, many events: counts of 0 to 10 per user and kind in the windows.
const events: Ev[] = Array.from({ length: 1_200 }, (_, i) => {
  const src = pick(SOURCES);
  const e: Ev = { id: `x${i}`, type: pick(TYPES), userId: pick(USERS), ...src, time: now0 - Math.floor(rand() * 20 * 24) * HOUR - HOUR / 2 };
  if ('campaignId' in src && rand() < 0.6) e.variantId = pick(['v1', 'v2']);
  if ('canvasId' in src && rand() < 0.6) e.stepId = pick(['s1', 's2']);
  return e;
});
/** Events delivered twice under other message ids (history holds them twice): counted once. */
const REDELIVERED = events.filter((_, i) => i % 7 === 0);
const times = [...new Set(events.map((e) => e.time))].sort((a, b) => a - b);

function randomLeaf(): Record<string, unknown> {
  const src = pick(SOURCES);
  let leaf: Record<string, unknown>;
  if (rand() < 0.25) leaf = { tag: pick(['t1', 't2', 'tNone']), event: pick(TYPES) };
  else {
    leaf = 'campaignId' in src ? { campaign: src.campaignId } : { canvas: src.canvasId };
    leaf.event = pick(TYPES);
    if ('campaignId' in src && rand() < 0.3) leaf.variant = pick(['v1', 'v2']);
    if ('canvasId' in src && rand() < 0.3) leaf.step = pick(['s1', 's2']);
  }
  const bound = () => pick(times) + (rand() < 0.5 ? 0 : HOUR / 2);
  if (rand() < 0.5) {
    // A count leaf: a window is required.
    const r = rand();
    leaf.times = r < 0.4 ? { min: 1 + Math.floor(rand() * 4) } : r < 0.7 ? { max: Math.floor(rand() * 3) } : { min: Math.floor(rand() * 3), max: 2 + Math.floor(rand() * 3) };
    if (rand() < 0.5) leaf.within = pick(Object.keys(WITHIN_MS));
    else leaf.after = new Date(bound()).toISOString();
    if (rand() < 0.3) leaf.before = bound();
    return leaf;
  }
  const r = rand();
  if (r < 0.3) leaf.after = new Date(bound()).toISOString();
  else if (r < 0.45) leaf.within = pick(Object.keys(WITHIN_MS));
  if (rand() < 0.25) leaf.before = bound();
  return leaf;
}

const randomFilter = (): Record<string, unknown> => randomFilterOver(rand, randomLeaf);

const srcOf = (e: Ev) => (e.campaignId !== undefined ? `c:${e.campaignId}` : `v:${e.canvasId}`);
const tagged = (tag: string) => Object.keys(TAGS).filter((s) => TAGS[s]!.includes(tag));
const hasCount = (f: any): boolean => (f.and ?? f.or)?.some(hasCount) ?? (f.not ? hasCount(f.not) : f.times !== undefined);

/** A leaf's events for a user, its window at `now`, and what the contract says of it. */
function leafFacts(f: any, user: string, now: number) {
  const over = f.tag !== undefined ? tagged(f.tag) : [f.campaign !== undefined ? `c:${f.campaign}` : `v:${f.canvas}`];
  const mine = events.filter((e) => e.userId === user && e.type === f.event && over.includes(srcOf(e)) &&
    (f.variant === undefined || e.variantId === f.variant) && (f.step === undefined || e.stepId === f.step));
  const { after, before } = leafWindow(f, now);
  const latest = mine.length ? Math.max(...mine.map((e) => e.time)) : undefined;
  const count = new Set(mine.filter((e) => e.time >= after && e.time < before).map((e) => e.id)).size;
  const matched = f.times !== undefined
    ? over.length > 0 && count >= (f.times.min ?? 0) && count <= (f.times.max ?? Infinity)
    : latest !== undefined && latest >= after && latest < before;
  return { over, latest, count, matched };
}

/** The users matching `filter` at `now`: the contract read literally. */
function bruteForce(filter: Record<string, unknown>, now: number): Set<string> {
  const named = new Set<string>();
  const collect = (f: any): void => {
    if (f.and) f.and.forEach(collect);
    else if (f.or) f.or.forEach(collect);
    else if (f.not) collect(f.not);
    else for (const s of f.tag !== undefined ? tagged(f.tag) : [f.campaign !== undefined ? `c:${f.campaign}` : `v:${f.canvas}`]) named.add(s);
  };
  collect(filter);
  const universe = new Set(events.filter((e) => named.has(srcOf(e))).map((e) => e.userId));
  return matchingUsers(filter, universe, (f, user) => leafFacts(f, user, now).matched);
}

/** Runs `call` and the brute force at its start and end; undefined when an hour's half-point fell between them (a `within` bound moved). */
async function stable<T>(filter: Record<string, unknown>, call: () => Promise<T>): Promise<{ got: T; expected: Set<string> } | undefined> {
  const t0 = Date.now();
  const got = await call();
  const a = bruteForce(filter, t0);
  const b = bruteForce(filter, Date.now());
  return [...a].sort().join() === [...b].sort().join() ? { got, expected: a } : undefined;
}

test.before(async (ctx) => {
  ctx.stack = await startStack();
  for (const [k, id] of [['campaigns', 'xA'], ['campaigns', 'xB'], ['canvases', 'xC']] as const) {
    const r = await send(ctx.stack.ts, 'PUT', `/v1/${k}/${id}`, { status: 'active', tags: TAGS[`${k === 'campaigns' ? 'c' : 'v'}:${id}`] });
    assert.is(r.status, 200, JSON.stringify(r.body));
  }
  await ctx.stack.publish(events);
  await ctx.stack.publish(REDELIVERED, { msgId: (e) => `again-${(e as Ev).id}` });
  const rows = async () => Number((await ctx.stack.ts.history.select<{ n: string }>(`SELECT count() AS n FROM ${ctx.stack.ns}.events`))[0]!.n);
  await eventually(async () => (await rows()) === events.length, 'every event in history');
  // The copies are consumed (history skips the ids it holds; the hot index merges them again).
  const { stream, consumer } = natsNames(ctx.stack.ns);
  await eventually(async () => {
    const info = await (await ctx.stack.ts.nc.jetstreamManager()).consumers.info(stream, consumer);
    return info.num_pending === 0 && info.num_ack_pending === 0 && ctx.stack.ts.engine!.inflight() === 0;
  }, 'every copy consumed, hot writes done');
});
test.after(async (ctx) => {
  await ctx.stack?.stop();
});

const CANDIDATES = [...USERS, 'stranger'];

test('check with count leaves equals brute force: hot (counts from the hot counts) and history', async ({ stack }) => {
  let compared = 0;
  for (let i = 0; i < 40; i++) {
    const filter = randomFilter();
    for (const from of ['hot', 'history'] as const) {
      const r = await stable(filter, () => send(stack.ts, 'POST', '/v1/retargeting/check', { filter, userIds: CANDIDATES, from }));
      if (!r) continue;
      const what = `${from} ${JSON.stringify(filter)}`;
      assert.is(r.got.status, 200, `${what} ${JSON.stringify(r.got.body)}`);
      assert.equal(r.got.body.matched, CANDIDATES.filter((u) => r.expected.has(u)), what);
      compared++;
    }
  }
  assert.ok(compared >= 70, `${compared} comparisons`);
});

test('count and audience with count leaves are served from history and equal brute force', async ({ stack }) => {
  for (let i = 0; i < 15; i++) {
    const filter = randomFilter();
    if (!hasCount(filter)) continue;
    const n = await stable(filter, () => send(stack.ts, 'POST', '/v1/retargeting/count', { filter }));
    if (n) {
      assert.is(n.got.status, 200, JSON.stringify(n.got.body));
      assert.equal(n.got.body, { count: n.expected.size, servedFrom: 'history' }, JSON.stringify(filter));
    }
    const a = await stable(filter, () => send(stack.ts, 'POST', '/v1/retargeting/audience', { filter, limit: 10_000 }));
    if (a) {
      assert.equal(a.got.body.users, [...a.expected].sort(), JSON.stringify(filter));
      assert.is(a.got.body.servedFrom, 'history');
    }
  }
});

test("explain: the root's matched is check's, and each leaf's time, count and match are the contract's, hot and history", async ({ stack }) => {
  let servedHot = 0;
  for (let i = 0; i < 25; i++) {
    const filter = randomFilter();
    for (const from of ['hot', 'history'] as const) {
      const t0 = Date.now();
      const check = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter, userIds: CANDIDATES, from });
      assert.is(check.status, 200, JSON.stringify(check.body));
      for (const userId of [pick(USERS), pick(USERS), 'stranger']) {
        const what = `${from} ${userId} ${JSON.stringify(filter)}`;
        const r = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filter, userId, from });
        assert.is(r.status, 200, `${what} ${JSON.stringify(r.body)}`);
        if (Date.now() - t0 > HOUR / 4 || bruteForce(filter, t0).has(userId) !== bruteForce(filter, Date.now()).has(userId)) continue;
        assert.is(r.body.matched, check.body.matched.includes(userId), what);
        assert.is(r.body.servedFrom, from);
        // Every leaf against the brute force (windows of `within` resolved at the lookup: compare at t0's hour half).
        const walk = (node: any, f: any): void => {
          if (f.and || f.or) {
            const k = f.and ? 'and' : 'or';
            node[k].forEach((n: any, j: number) => walk(n, f[k][j]));
            return;
          }
          if (f.not) return walk(node.not, f.not);
          const facts = leafFacts(f, userId, t0);
          assert.is(node.matched, facts.matched, `${what} leaf ${JSON.stringify(f)}`);
          // Count leaves: from the hot counts when their window starts within the 30 days they keep.
          const fromCounts = from === 'hot' && leafWindow(f, t0).after >= t0 - 30 * DAY ? 'hot' : 'history';
          if (f.times && node.servedFrom === 'hot') servedHot++;
          if (f.times && Math.abs(leafWindow(f, t0).after - (t0 - 30 * DAY)) > HOUR) assert.is(node.servedFrom, fromCounts, `${what} served from`);
          if (!f.times) assert.is(node.servedFrom, from);
          if (f.times) assert.is(node.count, facts.over.length ? facts.count : 0, `${what} count ${JSON.stringify(f)}`);
          else assert.is(node.time, facts.over.length && facts.latest !== undefined ? new Date(facts.latest).toISOString() : null, `${what} time ${JSON.stringify(f)}`);
          if (f.tag !== undefined) assert.equal(node.sources, facts.over.map((s) => (s.startsWith('c:') ? `campaign:${s.slice(2)}` : `canvas:${s.slice(2)}`)).sort());
          if (f.before !== undefined) assert.is(node.window.before, new Date(Number(f.before)).toISOString());
          if (f.after !== undefined) assert.is(node.window.after, new Date(Date.parse(f.after)).toISOString());
        };
        walk(r.body.tree, filter);
      }
    }
  }
  assert.ok(servedHot > 10, `${servedHot} count leaves served from the hot counts`);
});

test('GET /v1/users/:userId/filters: the registered filters whose check returns the user', async ({ stack }) => {
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await send(stack.ts, 'PUT', `/v1/filters/xf${i}`, { filter: randomFilter() });
    assert.is(r.status, 200, JSON.stringify(r.body));
    ids.push(`xf${i}`);
  }
  for (const userId of [...USERS.slice(0, 12), 'stranger']) {
    const t0 = Date.now();
    const got = await getJson(stack.ts, `/v1/users/${userId}/filters`);
    assert.is(got.status, 200, JSON.stringify(got.body));
    const expected: string[] = [];
    // Answered in id order (string order: xf10 before xf2).
    for (const id of [...ids].sort()) {
      const c = await send(stack.ts, 'POST', `/v1/filters/${id}/check`, { userIds: [userId] });
      if (c.body.matched.includes(userId)) expected.push(id);
    }
    if (Date.now() - t0 > HOUR / 4) continue;
    assert.equal(got.body, { userId, matched: expected, skipped: [], servedFrom: 'hot' }, userId);
  }
  for (const id of ids) assert.is((await send(stack.ts, 'DELETE', `/v1/filters/${id}`)).status, 204);
});

test('refusals: count windows past 730 days, explain without exactly one filter, unknown filters and sources', async ({ stack }) => {
  const old = new Date(Date.now() - 731 * DAY).toISOString();
  const far = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { and: [{ campaign: 'xA', event: 'send' }, { campaign: 'xA', event: 'open', times: { min: 1 }, after: old }] }, userIds: ['xu1'] });
  assert.is(far.status, 400);
  assert.equal([far.body.error, far.body.path], ['invalid_filter', 'filter.and[1].after']);
  const long = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter: { campaign: 'xA', event: 'open', times: { min: 1 }, within: 'P731D' } });
  assert.equal([long.status, long.body.path], [400, 'filter.within']);
  const none = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter: { campaign: 'xA', event: 'open', times: { min: 1 } } });
  assert.equal([none.status, none.body.path], [400, 'filter.times']);
  const both = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filter: { campaign: 'xA', event: 'send' }, filterId: 'f', userId: 'xu1' });
  assert.equal([both.status, both.body.error], [400, 'invalid_request']);
  const neither = await send(stack.ts, 'POST', '/v1/retargeting/explain', { userId: 'xu1' });
  assert.equal([neither.status, neither.body.error], [400, 'invalid_request']);
  const missing = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filterId: 'nope', userId: 'xu1' });
  assert.equal([missing.status, missing.body.error], [404, 'filter_not_found']);
  const unknown = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filter: { campaign: 'nope', event: 'send' }, userId: 'xu1' });
  assert.equal([unknown.status, unknown.body.error, unknown.body.sources], [404, 'source_not_found', ['campaign:nope']]);
  // A registered filter explained by id answers as the same filter inline.
  const filter = { or: [{ campaign: 'xA', event: 'open', times: { min: 2 }, within: 'P7D' }, { tag: 't1', event: 'click' }] };
  assert.is((await send(stack.ts, 'PUT', '/v1/filters/xe', { filter })).status, 200);
  const byId = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filterId: 'xe', userId: 'xu3' });
  const inline = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filter, userId: 'xu3' });
  assert.is(byId.status, 200, JSON.stringify(byId.body));
  // The same but for `within` windows, resolved at each call's own time.
  const noWindows = (body: unknown) => JSON.parse(JSON.stringify(body, (k, v) => (k === 'window' ? undefined : v)));
  assert.equal(noWindows(byId.body), noWindows(inline.body));
  assert.is((await send(stack.ts, 'DELETE', '/v1/filters/xe')).status, 204);
});

test('an expired source: explain and a user\'s filters say so, history answers', async ({ stack }) => {
  const filter = { and: [{ campaign: 'xB', event: 'send' }, { campaign: 'xB', event: 'open', times: { max: 1 }, within: 'P7D' }] };
  assert.is((await send(stack.ts, 'POST', '/v1/campaigns/xB/demote')).status, 202);
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/xB')).body.tier === 'expired', 'xB expired');
  const hot = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filter, userId: 'xu2' });
  assert.equal([hot.status, hot.body.error, hot.body.sources], [409, 'source_expired', ['campaign:xB']]);
  const hist = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filter, userId: 'xu2', from: 'history' });
  assert.is(hist.status, 200);
  const expected = bruteForce(filter, Date.now()).has('xu2');
  assert.is(hist.body.matched, expected);
  assert.is((await send(stack.ts, 'PUT', '/v1/filters/xg', { filter })).status, 200);
  // Registering restores it; until then the filter is skipped.
  const mine = await getJson(stack.ts, '/v1/users/xu2/filters');
  assert.is(mine.status, 200);
  const skipped = mine.body.skipped.find((s: any) => s.id === 'xg');
  if (skipped) assert.ok(['source_expired', 'source_restoring'].includes(skipped.reason) && skipped.sources[0] === 'campaign:xB', JSON.stringify(skipped));
  else assert.is(mine.body.matched.includes('xg'), expected);
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/xB')).body.tier === 'hot', 'xB restored');
  const after = await getJson(stack.ts, '/v1/users/xu2/filters');
  assert.equal([after.body.skipped, after.body.matched.includes('xg')], [[], expected]);
  // The restore loaded xB's hot counts: its count leaf is served from them, with history's count.
  for (const userId of USERS.slice(0, 8)) {
    const t0 = Date.now();
    const restored = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filter, userId });
    assert.is(restored.status, 200, JSON.stringify(restored.body));
    const facts = leafFacts(filter.and[1]!, userId, t0);
    assert.equal([restored.body.tree.and[1].servedFrom, restored.body.tree.and[1].count], ['hot', facts.count], userId);
  }
});

test('an erased user is counted nowhere: count leaves read no event of theirs, hot or history', async ({ stack }) => {
  const userId = 'xu5';
  const filter = { campaign: 'xA', event: 'send', times: { min: 0 }, after: new Date(now0 - 30 * DAY).toISOString() };
  const before = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filter, userId, from: 'history' });
  assert.ok(before.body.tree.count > 0, 'the user has sends of xA to erase');
  const r = await send(stack.ts, 'DELETE', `/v1/users/${userId}`);
  assert.is(r.status, 202, JSON.stringify(r.body));
  await eventually(async () => (await getJson(stack.ts, `/v1/erasures/${r.body.id}`)).body.status === 'done', 'erasure done');
  // Counts come from history's own table of events by user, which the erasure empties too.
  const counts = await stack.ts.history.leafCounts([{ source: { kind: 'campaign', id: 'xA' }, index: 'e:send', after: 0, before: Infinity, count: { min: 0, max: Infinity, sources: [{ kind: 'campaign', id: 'xA' }] } }], [userId]);
  assert.equal([...counts.keys()], []);
  for (const from of ['hot', 'history'] as const) {
    const e = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filter, userId, from });
    assert.equal([e.status, e.body.matched, e.body.inUniverse, e.body.tree.count], [200, false, false, 0], from);
  }
});

test('a Redis loss: the rebuild loads the hot counts, which answer as history does', async ({ stack }) => {
  await stack.ts.hot.unlinkNamespace();
  await stack.ts.tiers.checkRedis();
  await eventually(async () => !(await stack.ts.tiers.rebuilding()), 'rebuilt');
  const filter = { or: [{ campaign: 'xA', event: 'open', times: { min: 2 }, within: 'P7D' }, { tag: 't1', event: 'click', times: { max: 1 }, within: 'P3D' }] };
  for (const userId of USERS.slice(10, 20)) {
    const t0 = Date.now();
    const r = await send(stack.ts, 'POST', '/v1/retargeting/explain', { filter, userId });
    assert.is(r.status, 200, JSON.stringify(r.body));
    filter.or.forEach((leaf, i) => {
      const node = r.body.tree.or[i];
      assert.equal([node.servedFrom, node.count], ['hot', leafFacts(leaf, userId, t0).count], `${userId} ${JSON.stringify(leaf)}`);
    });
  }
  // xu5 was erased above (the brute force still holds its events).
  const asked = CANDIDATES.filter((u) => u !== 'xu5');
  for (let i = 0; i < 10; i++) {
    const f = randomFilter();
    const r = await stable(f, () => send(stack.ts, 'POST', '/v1/retargeting/check', { filter: f, userIds: asked }));
    if (r) assert.equal(r.got.body.matched, asked.filter((u) => r.expected.has(u)), `after the rebuild ${JSON.stringify(f)}`);
  }
});

test.run();
