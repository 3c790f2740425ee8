import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, send, startStack, type Stack } from './helpers.js';
import { rng } from '../../scripts/generate.js';
import { leafWindow, matchingUsers, randomFilter as randomFilterOver } from '../support/filter-oracle.js';

/**
 * Leaves past single sources (issue 26): any-message leaves (`{"any": "message", ...}`, with
 * `channel`, `engaged` and `opens`, `alias`), link-alias leaves per source and per step, mixed
 * with source leaves and combinators, against a brute-force reading of the contract over the
 * same events, on the hot path and the history path. One source is expired before the
 * lookups: any-message leaves still see its events (their index never expires). Then an
 * erasure and a Redis loss (rebuild from history) must leave the answers those of the events
 * that remain.
 */
const test = suite<{ stack: Stack }>('leaves');
const HOUR = 3_600_000;
const now0 = Math.floor(Date.now() / HOUR) * HOUR;
const rand = rng(26);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

type Ev = {
  id: string; type: string; userId: string; campaignId?: string; canvasId?: string; stepId?: string;
  channel?: string; linkAlias?: string; time: number;
};
const SOURCES = [{ campaignId: 'lA' }, { campaignId: 'lB' }, { canvasId: 'lC' }, { campaignId: 'lX' }] as const;
/** lX is expired before the lookups: source leaves never name it, any-message leaves cover it. */
const HOT_SOURCES = SOURCES.slice(0, 3);
const TYPES = ['send', 'open', 'machine_open', 'click', 'bounce', 'soft_bounce', 'spam'] as const;
const CHANNELS = ['email', 'sms', 'push'] as const;
const ALIASES = ['h1', 'h2', 'h.3'] as const;
const USERS = Array.from({ length: 40 }, (_, i) => `lu${i}`);
let events: Ev[] = Array.from({ length: 1_200 }, (_, i) => {
  const src = pick(SOURCES);
  const e: Ev = { id: `l${i}`, type: pick(TYPES), userId: pick(USERS), ...src, time: now0 - Math.floor(rand() * 240) * HOUR - HOUR / 2 };
  if ('canvasId' in src && rand() < 0.7) e.stepId = pick(['s1', 's2']);
  if (rand() < 0.8) e.channel = pick(CHANNELS);
  if (e.type === 'click' && rand() < 0.6) e.linkAlias = pick(ALIASES);
  return e;
});
const times = [...new Set(events.map((e) => e.time))].sort((a, b) => a - b);

function window(leaf: Record<string, unknown>): void {
  const r = rand();
  const bound = () => pick(times) + (rand() < 0.5 ? 0 : HOUR / 2);
  if (r < 0.25) leaf.after = new Date(bound()).toISOString();
  else if (r < 0.4) leaf.within = pick(['P3D', 'PT36H', 'P7D']);
  if (rand() < 0.25) leaf.before = bound();
}

/** A count leaf (`times`, a window required): over every source (of one channel or all), or one source. */
function randomCountLeaf(): Record<string, unknown> {
  let leaf: Record<string, unknown>;
  if (rand() < 0.7) {
    leaf = { any: 'message', event: pick(TYPES) };
    if (rand() < 0.5) leaf.channel = pick(CHANNELS);
  } else {
    const src = pick(HOT_SOURCES);
    leaf = 'campaignId' in src ? { campaign: src.campaignId } : { canvas: src.canvasId };
    leaf.event = pick(TYPES);
  }
  const r = rand();
  leaf.times = r < 0.4 ? { min: 1 + Math.floor(rand() * 3) } : r < 0.7 ? { max: Math.floor(rand() * 2) } : { min: 1, max: 1 + Math.floor(rand() * 3) };
  const bound = () => pick(times) + (rand() < 0.5 ? 0 : HOUR / 2);
  if (rand() < 0.5) leaf.within = pick(['P3D', 'PT36H', 'P7D']);
  else leaf.after = new Date(bound()).toISOString();
  if (rand() < 0.25) leaf.before = bound();
  return leaf;
}

function randomLeaf(): Record<string, unknown> {
  let leaf: Record<string, unknown>;
  if (rand() < 0.15) return randomCountLeaf();
  const r = rand();
  if (r < 0.55) {
    leaf = { any: 'message' };
    const k = rand();
    if (k < 0.3) {
      leaf.event = 'engaged';
      if (rand() < 0.6) leaf.opens = pick(['machine', 'other', 'any']);
      if (rand() < 0.4) leaf.channel = pick(CHANNELS);
    } else if (k < 0.5) {
      leaf.event = 'click';
      if (rand() < 0.7) leaf.alias = pick(ALIASES);
      else if (rand() < 0.5) leaf.channel = pick(CHANNELS);
    } else {
      leaf.event = pick(TYPES);
      if (rand() < 0.4) leaf.channel = pick(CHANNELS);
    }
  } else {
    const src = pick(HOT_SOURCES);
    leaf = 'campaignId' in src ? { campaign: src.campaignId } : { canvas: src.canvasId };
    if (rand() < 0.5) {
      leaf.event = 'click';
      leaf.alias = pick(ALIASES);
    } else leaf.event = pick(TYPES);
    if ('canvasId' in src && rand() < 0.5) leaf.step = pick(['s1', 's2']);
  }
  window(leaf);
  return leaf;
}

const randomFilter = (): Record<string, unknown> => randomFilterOver(rand, randomLeaf);

/** The contract, read literally, over the raw events: no code shared with the engine. */
function bruteForce(filter: Record<string, unknown>, now: number): Set<string> {
  const named = new Set<string>();
  let any = false;
  const collect = (f: any): void => {
    if (f.and) f.and.forEach(collect);
    else if (f.or) f.or.forEach(collect);
    else if (f.not) collect(f.not);
    else if (f.any !== undefined) any = true;
    else named.add(f.campaign !== undefined ? `c:${f.campaign}` : `v:${f.canvas}`);
  };
  collect(filter);
  const srcOf = (e: Ev) => (e.campaignId !== undefined ? `c:${e.campaignId}` : `v:${e.canvasId}`);
  // A `not` over an any-message leaf ranges over every user the namespace knows.
  const universe = new Set(events.filter((e) => any || named.has(srcOf(e))).map((e) => e.userId));
  const typesOf = (f: any): string[] => {
    if (f.event !== 'engaged') return [f.event];
    const opens = f.opens === 'machine' ? ['machine_open'] : f.opens === 'other' ? ['open'] : ['open', 'machine_open'];
    return ['click', ...opens];
  };
  const leafMatch = (f: any, user: string): boolean => {
    const types = typesOf(f);
    const mine = events.filter((e) =>
      e.userId === user && types.includes(e.type) &&
      (f.any !== undefined || (f.campaign !== undefined ? e.campaignId === f.campaign : e.canvasId === f.canvas)) &&
      (f.step === undefined || e.stepId === f.step) &&
      (f.channel === undefined || e.channel === f.channel) &&
      (f.alias === undefined || e.linkAlias === f.alias));
    const { after, before } = leafWindow(f, now);
    if (f.times) {
      // Distinct events (ids) in the window.
      const n = new Set(mine.filter((e) => e.time >= after && e.time < before).map((e) => e.id)).size;
      return n >= (f.times.min ?? 0) && n <= (f.times.max ?? Infinity);
    }
    if (mine.length === 0) return false;
    const t = Math.max(...mine.map((e) => e.time));
    return t >= after && t < before;
  };
  return matchingUsers(filter, universe, leafMatch);
}

test.before(async (ctx) => {
  ctx.stack = await startStack();
  await ctx.stack.publish(events);
  for (const src of SOURCES) {
    const [k, id] = 'campaignId' in src ? ['campaigns', src.campaignId] : ['canvases', src.canvasId];
    const n = events.filter((e) => (e.campaignId ?? e.canvasId) === id).length;
    await eventually(async () => (await getJson(ctx.stack.ts, `/v1/${k}/${id}`)).body.counts?.history === n, `${id} ingested`);
  }
  await eventually(async () => ctx.stack.ts.engine!.inflight() === 0, 'hot writes done');
  await send(ctx.stack.ts, 'POST', '/v1/campaigns/lX/demote');
  await eventually(async () => (await getJson(ctx.stack.ts, '/v1/campaigns/lX')).body.tier === 'expired', 'lX expired');
});
test.after(async (ctx) => {
  await ctx.stack?.stop();
});

async function walkAudience(stack: Stack, filter: object, from: 'hot' | 'history'): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const r = await send(stack.ts, 'POST', '/v1/retargeting/audience', { filter, limit: 9, from, ...(cursor && { cursor }) });
    assert.is(r.status, 200, JSON.stringify(r.body));
    out.push(...r.body.users);
    if (r.body.cursor === null) return out.sort();
    cursor = r.body.cursor;
  }
  throw new Error('audience walk did not end');
}

async function assertBruteForce(stack: Stack, filter: Record<string, unknown>, what = ''): Promise<void> {
  const candidates = [...USERS, 'stranger1'];
  const expected = bruteForce(filter, Date.now());
  for (const from of ['hot', 'history'] as const) {
    const label = `${what} ${from} ${JSON.stringify(filter)}`;
    const c = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter, userIds: candidates, from });
    assert.is(c.status, 200, `${label} ${JSON.stringify(c.body)}`);
    assert.equal(c.body.matched, candidates.filter((u) => expected.has(u)), label);
    const n = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter, from });
    assert.is(n.body.count, expected.size, label);
    assert.equal(await walkAudience(stack, filter, from), [...expected].sort(), label);
  }
}

test('any-message, engaged, channel and alias leaves mixed with source leaves equal brute force, hot and history, with a source expired', async ({ stack }) => {
  // Each kind of leaf at least once, then random filters.
  const fixed: Record<string, unknown>[] = [
    { any: 'message', event: 'send', within: 'PT36H' },
    { not: { any: 'message', event: 'bounce', within: 'P7D' } },
    { any: 'message', event: 'engaged', opens: 'machine', within: 'PT36H' },
    { any: 'message', event: 'engaged', channel: 'email', within: 'P3D' },
    { any: 'message', event: 'click', alias: 'h1', within: 'P7D' },
    { campaign: 'lA', event: 'click', alias: 'h2' },
    { canvas: 'lC', step: 's1', event: 'click', alias: 'h.3' },
    { and: [{ any: 'message', event: 'spam', channel: 'sms', within: 'P7D' }, { not: { campaign: 'lB', event: 'send', within: 'P3D' } }] },
    { any: 'message', event: 'send', times: { min: 2 }, within: 'P7D' },
    { any: 'message', event: 'soft_bounce', channel: 'email', times: { min: 1 }, within: 'P7D' },
    { and: [{ campaign: 'lA', event: 'send' }, { any: 'message', event: 'send', channel: 'sms', times: { max: 0 }, within: 'P3D' }] },
  ];
  for (const f of fixed) {
    // Neither everyone nor no one: the answers discriminate.
    const n = bruteForce(f, Date.now()).size;
    assert.ok(n > 0 && n < USERS.length, `${JSON.stringify(f)} matches ${n}`);
    await assertBruteForce(stack, f, 'fixed');
  }
  for (let i = 0; i < 30; i++) await assertBruteForce(stack, randomFilter(), `random ${i}`);
});

test('registered filters with any-message and alias leaves answer as the inline routes, pin no source, and name none', async ({ stack }) => {
  const candidates = [...USERS, 'stranger1'];
  for (let i = 0; i < 6; i++) {
    const filter = i === 0 ? { any: 'message', event: 'engaged', within: 'P3D' } : randomFilter();
    const put = await send(stack.ts, 'PUT', '/v1/filters/lf', { filter });
    assert.is(put.status, 200, JSON.stringify(put.body));
    if (i === 0) assert.equal(put.body.sources, [], 'an any-message leaf names no source');
    for (const from of ['hot', 'history'] as const) {
      const what = `${from} ${JSON.stringify(filter)}`;
      const inline = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter, userIds: candidates, from });
      const byId = await send(stack.ts, 'POST', '/v1/filters/lf/check', { userIds: candidates, from });
      assert.equal(byId.body, inline.body, what);
      assert.equal(inline.body.matched, candidates.filter((u) => bruteForce(filter, Date.now()).has(u)), what);
    }
  }
  assert.is((await send(stack.ts, 'DELETE', '/v1/filters/lf')).status, 204);
});

test('parsing: bad any, opens and alias answer 400 with the path', async ({ stack }) => {
  const bad = async (filter: object, path: string) => {
    const r = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter, userIds: ['lu1'] });
    assert.is(r.status, 400, JSON.stringify(r.body));
    assert.is(r.body.error, 'invalid_filter');
    assert.is(r.body.path, path, JSON.stringify(r.body));
  };
  await bad({ any: 'campaign', event: 'send' }, 'filter.any');
  await bad({ and: [{ any: 'message', event: 'engaged', opens: 'bots' }] }, 'filter.and[0].opens');
  await bad({ any: 'message', event: 'open', opens: 'machine' }, 'filter.opens');
  await bad({ campaign: 'lA', event: 'open', alias: 'h1' }, 'filter.alias');
  await bad({ campaign: 'lA', event: 'engaged' }, 'filter.event');
  await bad({ campaign: 'lA', event: 'send', channel: 'email' }, 'filter.channel');
  await bad({ any: 'message', campaign: 'lA', event: 'send' }, 'filter');
  await bad({ any: 'message', event: 'click', alias: 'h1', channel: 'email' }, 'filter.alias');
});

test('a restore brings back the link-alias indexes of a source and its steps', async ({ stack }) => {
  for (const [kind, id] of [['campaigns', 'lA'], ['canvases', 'lC']] as const) {
    await send(stack.ts, 'POST', `/v1/${kind}/${id}/demote`);
    await eventually(async () => (await getJson(stack.ts, `/v1/${kind}/${id}`)).body.tier === 'expired', `${id} expired`);
    assert.is((await send(stack.ts, 'POST', `/v1/${kind}/${id}/restore`)).status, 202);
    await eventually(async () => (await getJson(stack.ts, `/v1/${kind}/${id}`)).body.tier === 'hot', `${id} restored`);
  }
  for (const f of [
    { campaign: 'lA', event: 'click', alias: 'h1' },
    { canvas: 'lC', event: 'click', alias: 'h2', within: 'P7D' },
    { not: { canvas: 'lC', step: 's2', event: 'click', alias: 'h.3' } },
  ]) await assertBruteForce(stack, f, 'after a restore');
});

test('an erasure takes the user out of any-message leaves; a Redis loss rebuilds them from history', async ({ stack }) => {
  const user = 'lu3';
  assert.ok(events.some((e) => e.userId === user && e.campaignId === 'lX'), 'the user has events of the expired source');
  const asked = await send(stack.ts, 'DELETE', `/v1/users/${user}`);
  assert.is(asked.status, 202);
  await eventually(async () => (await getJson(stack.ts, `/v1/erasures/${asked.body.id}`)).body.status === 'done', 'erased');
  events = events.filter((e) => e.userId !== user);
  const probe = { or: [{ any: 'message', event: 'send', within: 'PT36H' }, { not: { any: 'message', event: 'engaged', within: 'P3D' } }] };
  await assertBruteForce(stack, probe, 'after the erasure');
  const check = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { not: { any: 'message', event: 'spam', channel: 'webhook' } }, userIds: [user] });
  assert.equal(check.body.matched, [], 'the erased user is not known to the namespace any more');

  await stack.ts.hot.unlinkNamespace();
  await stack.ts.tiers.checkRedis();
  await eventually(async () => !(await stack.ts.tiers.rebuilding()), 'rebuilt');
  for (const f of [probe, { any: 'message', event: 'click', alias: 'h2' }, { canvas: 'lC', step: 's2', event: 'click', alias: 'h1' }, { any: 'message', event: 'engaged', channel: 'push', opens: 'other' }]) {
    await assertBruteForce(stack, f, 'after the rebuild');
  }
});

test.run();
