import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, send, startStack, type Stack } from './helpers.js';
import { rng } from '../../scripts/generate.js';
import { leafWindow, matchingUsers, randomFilter as randomFilterOver } from '../support/filter-oracle.js';

/**
 * Every operator of the filter grammar against a brute-force evaluation over the same events,
 * on randomised filters and event sets, on the hot path and the history path.
 */
const test = suite<{ stack: Stack }>('retargeting');
const HOUR = 3_600_000;
const now0 = Math.floor(Date.now() / HOUR) * HOUR;
const rand = rng(42);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

type Ev = { id: string; type: string; userId: string; campaignId?: string; canvasId?: string; variantId?: string; stepId?: string; time: number };
const SOURCES = [{ campaignId: 'rA' }, { campaignId: 'rB' }, { canvasId: 'rC' }, { campaignId: 'rD' }, { canvasId: 'rE' }] as const;
/** Tags the sources carry in the tag tests, and one that no source ever carries. */
const TAGS = ['t1', 't2', 't3'] as const;
const NO_SOURCE_TAG = 'tNone';
/** The tags each source carries now (`c:rA`, `v:rC`), as the tag tests set them with PUT. */
const tagsNow = new Map<string, string[]>();
// machine_open beside open: an open leaf must not match a machine open, nor the reverse.
const TYPES = ['send', 'open', 'machine_open', 'click'] as const;
const USERS = Array.from({ length: 40 }, (_, i) => `ru${i}`);
const events: Ev[] = Array.from({ length: 1_500 }, (_, i) => {
  const src = pick(SOURCES);
  const e: Ev = { id: `r${i}`, type: pick(TYPES), userId: pick(USERS), ...src, time: now0 - Math.floor(rand() * 240) * HOUR - HOUR / 2 };
  if ('campaignId' in src && rand() < 0.7) e.variantId = pick(['v1', 'v2']);
  if ('canvasId' in src && rand() < 0.7) e.stepId = pick(['s1', 's2']);
  return e;
});
const times = [...new Set(events.map((e) => e.time))].sort((a, b) => a - b);

function randomLeaf(tags = false): Record<string, unknown> {
  const src = pick(SOURCES);
  let leaf: Record<string, unknown>;
  if (tags && rand() < 0.5) {
    leaf = { tag: rand() < 0.1 ? NO_SOURCE_TAG : pick(TAGS) };
    if (rand() < 0.4) leaf.kind = pick(['campaign', 'canvas']);
    leaf.event = pick(TYPES);
  } else {
    leaf = 'campaignId' in src ? { campaign: src.campaignId } : { canvas: src.canvasId };
    leaf.event = pick(TYPES);
    if ('campaignId' in src && rand() < 0.4) leaf.variant = pick(['v1', 'v2']);
    if ('canvasId' in src && rand() < 0.4) leaf.step = pick(['s1', 's2']);
  }
  const r = rand();
  // Bounds sometimes fall exactly on an event time: after is inclusive, before exclusive.
  const bound = () => pick(times) + (rand() < 0.5 ? 0 : HOUR / 2);
  if (r < 0.25) leaf.after = new Date(bound()).toISOString();
  else if (r < 0.4) leaf.within = pick(['P3D', 'PT36H', 'P7D']);
  if (rand() < 0.25) leaf.before = bound();
  return leaf;
}

/** A random filter; `tags`: its leaves may be tag leaves. */
const randomFilter = (tags = false): Record<string, unknown> => randomFilterOver(rand, () => randomLeaf(tags));

/** The sources (`c:rA`, `v:rC`) a tag leaf stands for under tagsNow. */
const tagged = (f: any): string[] =>
  [...tagsNow].filter(([src, tags]) => tags.includes(f.tag) && (f.kind === undefined || src.startsWith(f.kind === 'campaign' ? 'c:' : 'v:'))).map(([src]) => src);

/** The contract, read literally, over the raw events: no code shared with the engine. */
function bruteForce(filter: Record<string, unknown>, now: number): Set<string> {
  const named = new Set<string>();
  const collect = (f: any): void => {
    if (f.and) f.and.forEach(collect);
    else if (f.or) f.or.forEach(collect);
    else if (f.not) collect(f.not);
    else if (f.tag !== undefined) for (const s of tagged(f)) named.add(s);
    else named.add(f.campaign !== undefined ? `c:${f.campaign}` : `v:${f.canvas}`);
  };
  collect(filter);
  const srcOf = (e: Ev) => (e.campaignId !== undefined ? `c:${e.campaignId}` : `v:${e.canvasId}`);
  const universe = new Set(events.filter((e) => named.has(srcOf(e))).map((e) => e.userId));
  const leafMatch = (f: any, user: string): boolean => {
    // A tag leaf: the latest such event over every source carrying the tag now.
    const over = f.tag !== undefined ? tagged(f) : undefined;
    const mine = events.filter((e) =>
      e.userId === user && e.type === f.event &&
      (over ? over.includes(srcOf(e)) : f.campaign !== undefined ? e.campaignId === f.campaign : e.canvasId === f.canvas) &&
      (f.variant === undefined || e.variantId === f.variant) && (f.step === undefined || e.stepId === f.step));
    if (mine.length === 0) return false;
    const t = Math.max(...mine.map((e) => e.time));
    const { after, before } = leafWindow(f, now);
    return t >= after && t < before;
  };
  return matchingUsers(filter, universe, leafMatch);
}

test.before(async (ctx) => {
  ctx.stack = await startStack();
  await ctx.stack.publish(events);
  for (const [k, id] of [['campaigns', 'rA'], ['campaigns', 'rB'], ['canvases', 'rC'], ['campaigns', 'rD'], ['canvases', 'rE']]) {
    const n = events.filter((e) => (e.campaignId ?? e.canvasId) === id).length;
    await eventually(async () => (await getJson(ctx.stack.ts, `/v1/${k}/${id}`)).body.counts?.history === n, `${id} ingested`);
  }
  await eventually(async () => ctx.stack.ts.engine!.inflight() === 0, 'hot writes done');
});
test.after(async (ctx) => {
  await ctx.stack?.stop();
});

async function walkAudience(stack: Stack, filter: object, from: 'hot' | 'history', sorted = true): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const r = await send(stack.ts, 'POST', '/v1/retargeting/audience', { filter, limit: 7, from, ...(cursor && { cursor }) });
    assert.is(r.status, 200, JSON.stringify(r.body));
    out.push(...r.body.users);
    if (r.body.cursor === null) {
      // Hot pages come in position order (a hash of the id), history pages in id order; no walk repeats a user.
      assert.is(new Set(out).size, out.length, `no user twice in ${JSON.stringify(out)}`);
      if (from === 'history') assert.equal(out, [...out].sort(), 'history pages in user id order');
      return sorted ? out.sort() : out;
    }
    cursor = r.body.cursor;
  }
  throw new Error('audience walk did not end');
}

test('check, count and audience equal brute force for random filters, hot and history', async ({ stack }) => {
  const candidates = [...USERS, 'stranger1', 'stranger2'];
  for (let i = 0; i < 40; i++) {
    const filter = randomFilter();
    const expected = bruteForce(filter, Date.now());
    for (const from of ['hot', 'history'] as const) {
      const what = `${from} ${JSON.stringify(filter)}`;
      const c = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter, userIds: candidates, from });
      assert.is(c.status, 200, what);
      assert.equal(c.body.matched, candidates.filter((u) => expected.has(u)), what);
      assert.is(c.body.servedFrom, from);
      const n = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter, from });
      assert.is(n.body.count, expected.size, what);
      const walk = await walkAudience(stack, filter, from);
      assert.equal(walk, [...expected].sort(), what);
    }
  }
});

/** Gives each source a random set of TAGS with PUT (never NO_SOURCE_TAG), and records it in tagsNow. */
async function retag(stack: Stack): Promise<void> {
  for (const src of SOURCES) {
    const tags = TAGS.filter(() => rand() < 0.4);
    const [path, key] = 'campaignId' in src ? [`/v1/campaigns/${src.campaignId}`, `c:${src.campaignId}`] : [`/v1/canvases/${src.canvasId}`, `v:${src.canvasId}`];
    const r = await send(stack.ts, 'PUT', path, { status: 'active', tags });
    assert.is(r.status, 200, JSON.stringify(r.body));
    tagsNow.set(key, tags);
  }
}

async function assertBruteForce(stack: Stack, filter: Record<string, unknown>): Promise<void> {
  const candidates = [...USERS, 'stranger1'];
  const expected = bruteForce(filter, Date.now());
  for (const from of ['hot', 'history'] as const) {
    const what = `${from} ${JSON.stringify(filter)} tags ${JSON.stringify([...tagsNow])}`;
    const c = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter, userIds: candidates, from });
    assert.is(c.status, 200, `${what} ${JSON.stringify(c.body)}`);
    assert.equal(c.body.matched, candidates.filter((u) => expected.has(u)), what);
    const n = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter, from });
    assert.is(n.body.count, expected.size, what);
    assert.equal(await walkAudience(stack, filter, from), [...expected].sort(), what);
  }
}

test('tag leaves mixed with source leaves and combinators equal brute force, hot and history, retagged between calls', async ({ stack }) => {
  for (let round = 0; round < 8; round++) {
    await retag(stack);
    for (let i = 0; i < 6; i++) await assertBruteForce(stack, randomFilter(true));
  }
  // The latest over the sources, not any of them: a user whose latest send over {rA, rB} is
  // after the bound matches `after`, and one whose latest is past `before` does not match
  // even when an older send of theirs is inside the window.
  for (const src of SOURCES) tagsNow.set('campaignId' in src ? `c:${src.campaignId}` : `v:${src.canvasId}`, []);
  for (const id of ['rA', 'rB']) {
    assert.is((await send(stack.ts, 'PUT', `/v1/campaigns/${id}`, { status: 'active', tags: ['t1'] })).status, 200);
    tagsNow.set(`c:${id}`, ['t1']);
  }
  for (const id of ['rD']) assert.is((await send(stack.ts, 'PUT', `/v1/campaigns/${id}`, { status: 'active', tags: [] })).status, 200);
  for (const id of ['rC', 'rE']) assert.is((await send(stack.ts, 'PUT', `/v1/canvases/${id}`, { status: 'active', tags: [] })).status, 200);
  const mid = times[Math.floor(times.length / 2)]!;
  for (const filter of [
    { tag: 't1', event: 'send', before: mid },
    { tag: 't1', event: 'send', after: new Date(mid).toISOString() },
    { tag: 't1', event: 'send', after: new Date(times[Math.floor(times.length / 4)]!).toISOString(), before: mid },
    { tag: 't1', kind: 'canvas', event: 'send' },
    { not: { tag: NO_SOURCE_TAG, event: 'send' } },
    { and: [{ campaign: 'rD', event: 'open' }, { not: { tag: NO_SOURCE_TAG, event: 'send' } }] },
    { or: [{ campaign: 'rD', event: 'open' }, { tag: NO_SOURCE_TAG, event: 'send' }] },
  ]) {
    await assertBruteForce(stack, filter);
  }
  // Somebody has an rA or rB send before mid and a later one: they are not in "before mid".
  const latestSend = (u: string) => Math.max(...events.filter((e) => e.userId === u && e.type === 'send' && (e.campaignId === 'rA' || e.campaignId === 'rB')).map((e) => e.time));
  const straddling = USERS.find((u) => events.some((e) => e.userId === u && e.type === 'send' && (e.campaignId === 'rA' || e.campaignId === 'rB') && e.time < mid) && latestSend(u) >= mid);
  assert.ok(straddling, 'a user with sends on both sides of the bound');
  for (const from of ['hot', 'history'] as const) {
    const r = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { tag: 't1', event: 'send', before: mid }, userIds: [straddling], from });
    assert.equal(r.body.matched, [], from);
  }
  const none = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter: { tag: NO_SOURCE_TAG, event: 'send' } });
  assert.equal(none.body, { count: 0, servedFrom: 'hot' });
  for (const src of SOURCES) {
    const path = 'campaignId' in src ? `/v1/campaigns/${src.campaignId}` : `/v1/canvases/${src.canvasId}`;
    await send(stack.ts, 'PUT', path, { status: 'active', tags: [] });
    tagsNow.set('campaignId' in src ? `c:${src.campaignId}` : `v:${src.canvasId}`, []);
  }
});

test('a tag standing for an expired source answers 409 with it, unless from history', async ({ stack }) => {
  assert.is((await send(stack.ts, 'PUT', '/v1/campaigns/rB', { status: 'active', tags: ['texp'] })).status, 200);
  assert.is((await send(stack.ts, 'PUT', '/v1/canvases/rE', { status: 'active', tags: ['texp'] })).status, 200);
  const filter = { tag: 'texp', event: 'send' };
  const hot = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter });
  assert.is(hot.status, 200);
  await send(stack.ts, 'POST', '/v1/canvases/rE/demote');
  await eventually(async () => (await getJson(stack.ts, '/v1/canvases/rE')).body.tier === 'expired', 'demoted');
  const r = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { tag: 'texp', kind: 'canvas', event: 'click' }, userIds: ['ru1'] });
  assert.is(r.status, 409);
  assert.equal(r.body.sources, ['canvas:rE']);
  // kind campaign does not stand for the canvas: it answers from the hot tier.
  assert.is((await send(stack.ts, 'POST', '/v1/retargeting/count', { filter: { tag: 'texp', kind: 'campaign', event: 'send' } })).status, 200);
  assert.equal((await send(stack.ts, 'POST', '/v1/retargeting/count', { filter, from: 'history' })).body, { count: hot.body.count, servedFrom: 'history' });
  // Untagged, the expired canvas is no longer named: the filter answers from the hot tier again.
  await send(stack.ts, 'PUT', '/v1/canvases/rE', { status: 'active', tags: [] });
  const after = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter });
  assert.is(after.status, 200);
  await send(stack.ts, 'PUT', '/v1/campaigns/rB', { status: 'active', tags: [] });
  await eventually(async () => (await getJson(stack.ts, '/v1/canvases/rE')).body.tier === 'hot', 'restored by set active');
});

test('lookups by registered filter id answer as the inline routes, hot and history; replaced filters take effect; unknown ids 404', async ({ stack }) => {
  const candidates = [...USERS, 'stranger1'];
  const walkById = async (id: string, from: 'hot' | 'history') => {
    const out: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 50; page++) {
      const r = await send(stack.ts, 'POST', `/v1/filters/${id}/audience`, { limit: 7, from, ...(cursor && { cursor }) });
      assert.is(r.status, 200, JSON.stringify(r.body));
      out.push(...r.body.users);
      if (r.body.cursor === null) return out;
      cursor = r.body.cursor;
    }
    throw new Error('audience walk did not end');
  };
  for (let i = 0; i < 12; i++) {
    if (i % 3 === 0) await retag(stack); // registered tag leaves stand for the sources tagged now
    const filter = randomFilter(true);
    const id = `reg${i % 4}`; // ids are reused: a replaced filter must be the one answered
    assert.is((await send(stack.ts, 'PUT', `/v1/filters/${id}`, { filter })).status, 200);
    for (const from of ['hot', 'history'] as const) {
      const what = `${from} ${JSON.stringify(filter)}`;
      const inline = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter, userIds: candidates, from });
      const byId = await send(stack.ts, 'POST', `/v1/filters/${id}/check`, { userIds: candidates, from });
      assert.equal(byId.body, inline.body, what);
      const n = await send(stack.ts, 'POST', `/v1/filters/${id}/count?from=${from}`);
      assert.equal(n.body, (await send(stack.ts, 'POST', '/v1/retargeting/count', { filter, from })).body, what);
      // Both walks in the same (position or id) order, page by page.
      assert.equal(await walkById(id, from), await walkAudience(stack, filter, from, false), what);
    }
  }
  const missing = await send(stack.ts, 'POST', '/v1/filters/no-such-filter/count', {});
  assert.is(missing.status, 404);
  assert.is(missing.body.error, 'filter_not_found');
  for (let i = 0; i < 4; i++) await send(stack.ts, 'DELETE', `/v1/filters/reg${i}`);
  for (const src of SOURCES) {
    await send(stack.ts, 'PUT', 'campaignId' in src ? `/v1/campaigns/${src.campaignId}` : `/v1/canvases/${src.canvasId}`, { status: 'active', tags: [] });
    tagsNow.set('campaignId' in src ? `c:${src.campaignId}` : `v:${src.canvasId}`, []);
  }
  assert.is((await send(stack.ts, 'POST', '/v1/filters/reg0/check', { userIds: ['ru1'] })).status, 404);
});

test('window bounds: after is inclusive, before exclusive, on both paths', async ({ stack }) => {
  const user = events.find((e) => e.campaignId === 'rA' && e.type === 'send')!.userId;
  const t = Math.max(...events.filter((e) => e.campaignId === 'rA' && e.type === 'send' && e.userId === user).map((e) => e.time));
  for (const from of ['hot', 'history'] as const) {
    const check = async (leaf: object) =>
      (await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { campaign: 'rA', event: 'send', ...leaf }, userIds: [user], from })).body.matched;
    assert.equal(await check({ after: t }), [user], `${from} after = t`);
    assert.equal(await check({ after: t + 1 }), [], `${from} after = t + 1`);
    assert.equal(await check({ before: t }), [], `${from} before = t`);
    assert.equal(await check({ before: t + 1 }), [user], `${from} before = t + 1`);
    assert.equal(await check({ after: new Date(t).toISOString(), before: t + 1 }), [user], `${from} [t, t + 1)`);
  }
});

test('a filter on an expired source: 409 with the list; from history it answers the same', async ({ stack }) => {
  const filter = { and: [{ campaign: 'rA', event: 'send' }, { not: { campaign: 'rA', event: 'click' } }] };
  const hot = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter });
  await send(stack.ts, 'POST', '/v1/campaigns/rA/demote');
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/rA')).body.tier === 'expired', 'demoted');
  const r = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter });
  assert.is(r.status, 409);
  assert.equal(r.body.error, 'source_expired');
  assert.equal(r.body.sources, ['campaign:rA']);
  const h = await send(stack.ts, 'POST', '/v1/retargeting/count?from=history', { filter });
  assert.equal(h.body, { count: hot.body.count, servedFrom: 'history' });
  await send(stack.ts, 'POST', '/v1/campaigns/rA/restore');
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/rA')).body.tier === 'hot', 'restored');
  assert.equal((await send(stack.ts, 'POST', '/v1/retargeting/count', { filter })).body, hot.body);
});

test('machine opens are their own event type: an open leaf does not match them, hot and history', async ({ stack }) => {
  await stack.publish([
    { id: 'mo1', type: 'machine_open', userId: 'mu1', campaignId: 'rM', channel: 'email', time: now0 - HOUR },
    { id: 'mo2', type: 'open', userId: 'mu2', campaignId: 'rM', channel: 'email', time: now0 - HOUR },
    { id: 'mo3', type: 'machine_open', userId: 'mu3', campaignId: 'rM', variantId: 'v1', channel: 'email', time: now0 - HOUR },
    { id: 'mo4', type: 'open', userId: 'mu3', campaignId: 'rM', variantId: 'v1', channel: 'email', time: now0 - 2 * HOUR },
  ]);
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/rM')).body.counts?.hot === 3, 'rM ingested');
  const users = ['mu1', 'mu2', 'mu3'];
  for (const from of ['hot', 'history'] as const) {
    const check = async (filter: object) => (await send(stack.ts, 'POST', '/v1/retargeting/check', { filter, userIds: users, from })).body.matched;
    assert.equal(await check({ campaign: 'rM', event: 'open' }), ['mu2', 'mu3'], from);
    assert.equal(await check({ campaign: 'rM', event: 'machine_open' }), ['mu1', 'mu3'], from);
    assert.equal(await check({ campaign: 'rM', event: 'machine_open', variant: 'v1' }), ['mu3'], from);
    // mu3's latest open is older than its machine open: the open leaf sees the open's time.
    assert.equal(await check({ campaign: 'rM', event: 'open', after: now0 - HOUR - 1 }), ['mu2'], from);
    assert.equal(await check({ and: [{ campaign: 'rM', event: 'machine_open' }, { not: { campaign: 'rM', event: 'open' } }] }), ['mu1'], from);
    const u = await getJson(stack.ts, `/v1/users/mu3/interactions?sources=campaign:rM${from === 'history' ? '&from=history' : ''}`);
    assert.equal(u.body.sources[0].latest, { machine_open: new Date(now0 - HOUR).toISOString(), open: new Date(now0 - 2 * HOUR).toISOString() }, from);
    assert.equal(u.body.sources[0].variants, { v1: { machine_open: new Date(now0 - HOUR).toISOString(), open: new Date(now0 - 2 * HOUR).toISOString() } }, from);
  }
});

test('ids and values that look like SQL or Redis patterns are rejected or handled safely', async ({ stack }) => {
  for (const bad of ["rA' OR 1=1 --", 'r*', '{rA}', 'rA\nFLUSHALL', 'x'.repeat(10_000), 'a\\b']) {
    const r = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter: { campaign: bad, event: 'send' }, from: 'history' });
    assert.is(r.status, 400, bad.slice(0, 20));
    assert.is(r.body.error, 'invalid_filter');
    const c = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { campaign: 'rA', event: 'send' }, userIds: [bad] });
    assert.is(c.status, 400);
  }
  // Allowed characters that mean something to Redis or SQL elsewhere are just characters.
  const odd = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { campaign: 'rA:*', event: 'send' }, userIds: ['a@b+c'] });
  assert.is(odd.status, 400); // `*` is outside the id charset
  const odder = { filter: { campaign: 'no.such:id-1', event: 'send' }, userIds: ['a@b+c'], from: 'history' };
  assert.equal((await send(stack.ts, 'POST', '/v1/retargeting/check', odder)).body.sources, ['campaign:no.such:id-1']);
  assert.is((await send(stack.ts, 'PUT', '/v1/campaigns/no.such:id-1', { status: 'active' })).status, 200);
  const ok = await send(stack.ts, 'POST', '/v1/retargeting/check', odder);
  assert.equal(ok.body, { matched: [], servedFrom: 'history' });
});

test.run();
