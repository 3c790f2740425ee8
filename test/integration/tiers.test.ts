import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRedis, sourceKeys } from '../../storage/redis/index.js';
import { eventually, getJson, hotState, historyFold, send, startStack, testConfig, type Stack } from './helpers.js';

const test = suite<{ stack: Stack }>('tiers');
test.before(async (ctx) => {
  ctx.stack = await startStack();
});
test.after(async (ctx) => {
  await ctx.stack?.stop();
});

const ev = (source: string, i: number, user: string, type = 'send', time = 1_700_000_000_000 + i) => ({
  id: `${source}-${i}`, type, userId: user, campaignId: source, variantId: `v${i % 2}`, time,
});

async function ingest(stack: Stack, source: string, from: number, n: number, users = 20) {
  await stack.publish(Array.from({ length: n }, (_, k) => ev(source, from + k, `u${(from + k) % users}`, k % 3 ? 'open' : 'send')));
}

async function historyCount(stack: Stack, id: string) {
  return (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.counts?.history;
}

test('a stopped source expires after TIER_EXPIRE_AFTER, not before; history stays; keys are gone', async ({ stack }) => {
  await ingest(stack, 'exp', 0, 200);
  await eventually(async () => (await historyCount(stack, 'exp')) === 200, 'ingested');
  const stoppedAt = Date.now();
  const put = await send(stack.ts, 'PUT', '/v1/campaigns/exp', { status: 'stopped', stoppedAt: new Date(stoppedAt).toISOString(), tags: ['spring'] });
  assert.is(put.status, 200);
  assert.is(put.body.expiresAt, new Date(stoppedAt + 2_000).toISOString());
  // Before the period: still hot (checked at 1 s; scans run every 0.2 s).
  await new Promise((r) => setTimeout(r, 1_000));
  assert.is((await getJson(stack.ts, '/v1/campaigns/exp')).body.tier, 'hot');
  const state = await eventually(async () => {
    const s = (await getJson(stack.ts, '/v1/campaigns/exp')).body;
    return s.tier === 'expired' ? s : undefined;
  }, 'expiry');
  const expiredAt = Date.parse(state.transitions.at(-1).at);
  assert.ok(expiredAt >= stoppedAt + 2_000, 'not before expiresAt');
  assert.equal(state.transitions.map((t: { tier: string }) => t.tier), ['hot', 'demoting', 'expired']);
  assert.is(state.counts.hot, null);
  assert.is(state.counts.history, 200);
  assert.is(await stack.ts.hot.sourceKeyCount({ kind: 'campaign', id: 'exp' }), 0);
  const list = await getJson(stack.ts, '/v1/campaigns?tier=expired&tag=spring');
  assert.equal(list.body.items.map((s: { id: string }) => s.id), ['exp']);
});

test('late events for an expired source go to history only, and appear after restore', async ({ stack }) => {
  await ingest(stack, 'late', 0, 100);
  await eventually(async () => (await historyCount(stack, 'late')) === 100, 'ingested');
  // The count shows the history insert at once; the hot write comes after it.
  await eventually(async () => stack.ts.engine!.inflight() === 0, 'hot writes done');
  const before = await hotState(stack.ts, { kind: 'campaign', id: 'late' });
  assert.is((await send(stack.ts, 'POST', '/v1/campaigns/late/demote')).status, 202);
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/late')).body.tier === 'expired', 'demoted');
  // The state before demotion comes back exactly.
  let r = await send(stack.ts, 'POST', '/v1/campaigns/late/restore');
  assert.is(r.status, 202);
  assert.is(r.body.tier, 'restoring');
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/late')).body.tier === 'hot', 'restored');
  assert.equal(await hotState(stack.ts, { kind: 'campaign', id: 'late' }), before);
  // Demote again, then late events: only history has them.
  await send(stack.ts, 'POST', '/v1/campaigns/late/demote');
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/late')).body.tier === 'expired', 'demoted again');
  // A recent time: one more than TIERSTREAM_MAX_FUTURE (P1D) ahead would be dead-lettered.
  const lateAt = Date.now() - 60_000;
  await stack.publish([ev('late', 1_000, 'newcomer', 'click', lateAt)]);
  await eventually(async () => (await historyCount(stack, 'late')) === 101, 'late event in history');
  const u = await getJson(stack.ts, '/v1/users/newcomer/interactions?sources=campaign:late');
  assert.equal(u.body.sources, [{ source: 'campaign:late', tier: 'expired' }]);
  assert.is(await stack.ts.hot.sourceKeyCount({ kind: 'campaign', id: 'late' }), 0);
  r = await send(stack.ts, 'POST', '/v1/campaigns/late/restore');
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/late')).body.tier === 'hot', 'restored again');
  const after = await getJson(stack.ts, '/v1/users/newcomer/interactions?sources=campaign:late');
  assert.equal(after.body.sources[0].latest, { click: new Date(lateAt).toISOString() });
  assert.equal(await hotState(stack.ts, { kind: 'campaign', id: 'late' }), await historyFold(stack.ts, { kind: 'campaign', id: 'late' }));
  // A restore of a hot source answers 200.
  assert.is((await send(stack.ts, 'POST', '/v1/campaigns/late/restore')).status, 200);
});

test('pinned sources never expire; unpinning restarts the clock; pinning an expired source restores it', async ({ stack }) => {
  await ingest(stack, 'pin', 0, 50);
  await eventually(async () => (await historyCount(stack, 'pin')) === 50, 'ingested');
  const f = await send(stack.ts, 'PUT', '/v1/filters/f:1', { filter: { and: [{ campaign: 'pin', event: 'send' }, { not: { campaign: 'pin', event: 'click' } }] } });
  assert.is(f.status, 200);
  assert.equal(f.body, { id: 'f:1', sources: ['campaign:pin'], restoring: [] });
  await send(stack.ts, 'PUT', '/v1/campaigns/pin', { status: 'stopped', stoppedAt: Date.now() - 60_000 });
  const s = (await getJson(stack.ts, '/v1/campaigns/pin')).body;
  assert.equal(s.pinnedBy, ['f:1']);
  assert.is(s.expiresAt, null);
  await new Promise((r) => setTimeout(r, 1_500)); // several scans; long past stoppedAt + 2 s
  assert.is((await getJson(stack.ts, '/v1/campaigns/pin')).body.tier, 'hot');
  const unpinnedAt = Date.now();
  assert.is((await send(stack.ts, 'DELETE', '/v1/filters/f:1')).status, 204);
  const after = (await getJson(stack.ts, '/v1/campaigns/pin')).body;
  assert.ok(Date.parse(after.expiresAt) >= unpinnedAt + 2_000, 'clock restarts at unpin');
  await new Promise((r) => setTimeout(r, 1_000));
  assert.is((await getJson(stack.ts, '/v1/campaigns/pin')).body.tier, 'hot');
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/pin')).body.tier === 'expired', 'expires after unpin');
  // Using it in a filter brings it back.
  const again = await send(stack.ts, 'PUT', '/v1/filters/f2', { filter: { campaign: 'pin', event: 'open' } });
  assert.equal(again.body.restoring, ['campaign:pin']);
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/pin')).body.tier === 'hot', 'restored by pin');
  await send(stack.ts, 'DELETE', '/v1/filters/f2');
});

test('a filter with tag leaves pins what carries its tags, also sources tagged later; losing the tag unpins and restarts the clock', async ({ stack }) => {
  for (const id of ['pt1', 'pt3', 'pt4']) await ingest(stack, id, 0, 30);
  await stack.publish(Array.from({ length: 10 }, (_, i) => ({ id: `pt2-${i}`, type: 'send', userId: `u${i}`, canvasId: 'pt2', stepId: 's1', time: 1_000 + i })));
  for (const id of ['pt1', 'pt3', 'pt4']) await eventually(async () => (await historyCount(stack, id)) === 30, `${id} ingested`);
  await eventually(async () => (await getJson(stack.ts, '/v1/canvases/pt2')).body.counts?.history === 10, 'pt2 ingested');
  const state = async (path: string) => (await getJson(stack.ts, path)).body;
  const long = Date.now() - 60_000; // stopped long ago: due at once unless pinned
  assert.is((await send(stack.ts, 'PUT', '/v1/campaigns/pt1', { status: 'stopped', stoppedAt: long, tags: ['pintag', 'other'] })).status, 200);
  for (const id of ['pt3', 'pt4']) {
    await send(stack.ts, 'PUT', `/v1/campaigns/${id}`, { status: 'stopped', stoppedAt: long, tags: id === 'pt3' ? ['pintag'] : [] });
    await eventually(async () => (await state(`/v1/campaigns/${id}`)).tier === 'expired', `${id} expired`);
  }
  // pt1 is due too; register before the scan gets to it is not guaranteed, so pin a hot one below.
  await send(stack.ts, 'POST', '/v1/campaigns/pt1/restore');
  await send(stack.ts, 'PUT', '/v1/canvases/pt2', { status: 'active' });
  // A filter names only sources that exist: ptx is declared, before any event.
  await send(stack.ts, 'PUT', '/v1/campaigns/ptx', { status: 'active' });

  const put = await send(stack.ts, 'PUT', '/v1/filters/ptf', { filter: { or: [{ tag: 'pintag', event: 'send' }, { campaign: 'ptx', event: 'open' }] } });
  assert.is(put.status, 200, JSON.stringify(put.body));
  assert.equal(put.body.sources, ['campaign:ptx', 'campaign:pt1', 'campaign:pt3']);
  assert.ok(put.body.restoring.includes('campaign:pt3'), JSON.stringify(put.body));
  assert.equal((await state('/v1/filters/ptf')).sources, ['campaign:ptx', 'campaign:pt1', 'campaign:pt3']);
  await eventually(async () => (await state('/v1/campaigns/pt3')).tier === 'hot', 'pt3 restored by the pin');
  await eventually(async () => (await state('/v1/campaigns/pt1')).tier === 'hot', 'pt1 hot');
  for (const id of ['pt1', 'pt3']) {
    const s = await state(`/v1/campaigns/${id}`);
    assert.equal(s.pinnedBy, ['ptf'], id);
    assert.is(s.expiresAt, null, id);
  }
  assert.equal((await state('/v1/campaigns/pt4')).pinnedBy, []);

  // Gaining the tag pins in the same write, and an expired source that gains it is restored.
  const tagged2 = await send(stack.ts, 'PUT', '/v1/canvases/pt2', { status: 'stopped', stoppedAt: long, tags: ['pintag'] });
  assert.equal(tagged2.body.pinnedBy, ['ptf']);
  assert.is(tagged2.body.expiresAt, null);
  const tagged4 = await send(stack.ts, 'PUT', '/v1/campaigns/pt4', { status: 'stopped', stoppedAt: long, tags: ['pintag'] });
  assert.equal(tagged4.body.pinnedBy, ['ptf']);
  assert.ok(['restoring', 'hot'].includes(tagged4.body.tier), tagged4.body.tier);
  await eventually(async () => (await state('/v1/campaigns/pt4')).tier === 'hot', 'pt4 restored by gaining the tag');
  assert.equal((await state('/v1/filters/ptf')).sources, ['campaign:ptx', 'campaign:pt1', 'campaign:pt3', 'campaign:pt4', 'canvas:pt2']);

  // An admin demotion expires a pinned source; registering the filter again restores it, as for named ones.
  await send(stack.ts, 'POST', '/v1/campaigns/pt3/demote');
  await eventually(async () => (await state('/v1/campaigns/pt3')).tier === 'expired', 'pt3 demoted by the admin');
  const again = await send(stack.ts, 'PUT', '/v1/filters/ptf', { filter: { or: [{ tag: 'pintag', event: 'send' }, { campaign: 'ptx', event: 'open' }] } });
  assert.equal(again.body.restoring, ['campaign:pt3']);
  await eventually(async () => (await state('/v1/campaigns/pt3')).tier === 'hot', 'pt3 restored by registering again');

  // A kind-restricted filter pins canvases only.
  const kinded = await send(stack.ts, 'PUT', '/v1/filters/ptk', { filter: { tag: 'pintag', kind: 'canvas', event: 'send' } });
  assert.equal(kinded.body.sources, ['canvas:pt2']);
  assert.equal((await state('/v1/canvases/pt2')).pinnedBy, ['ptf', 'ptk']);
  assert.equal((await state('/v1/campaigns/pt1')).pinnedBy, ['ptf']);

  // Losing the tag unpins; the expiry clock restarts then.
  const untaggedAt = Date.now();
  const untag = await send(stack.ts, 'PUT', '/v1/campaigns/pt1', { status: 'stopped', tags: ['other'] });
  assert.equal(untag.body.pinnedBy, []);
  assert.ok(Date.parse(untag.body.expiresAt) >= untaggedAt + 2_000, 'clock restarts when the tag goes');
  assert.equal((await state('/v1/filters/ptf')).sources, ['campaign:ptx', 'campaign:pt3', 'campaign:pt4', 'canvas:pt2']);
  await new Promise((r) => setTimeout(r, 2_500)); // every pinned one stays hot past its expiry
  for (const path of ['/v1/campaigns/pt3', '/v1/campaigns/pt4', '/v1/canvases/pt2']) assert.is((await state(path)).tier, 'hot', path);
  await eventually(async () => (await state('/v1/campaigns/pt1')).tier === 'expired', 'pt1 expires once untagged');

  // Replacing the filter by one without the tag unpins what it stood for; deleting the other unpins the rest.
  const replaced = await send(stack.ts, 'PUT', '/v1/filters/ptf', { filter: { campaign: 'ptx', event: 'open' } });
  assert.equal(replaced.body.sources, ['campaign:ptx']);
  assert.equal((await state('/v1/campaigns/pt3')).pinnedBy, []);
  assert.equal((await state('/v1/canvases/pt2')).pinnedBy, ['ptk']);
  assert.is((await send(stack.ts, 'DELETE', '/v1/filters/ptk')).status, 204);
  assert.equal((await state('/v1/canvases/pt2')).pinnedBy, []);
  await send(stack.ts, 'DELETE', '/v1/filters/ptf');
  assert.equal((await state('/v1/campaigns/ptx')).pinnedBy, []);
});

test('10 parallel restore calls run one restore', async ({ stack }) => {
  await ingest(stack, 'par', 0, 300, 100);
  await eventually(async () => (await historyCount(stack, 'par')) === 300, 'ingested');
  await send(stack.ts, 'POST', '/v1/campaigns/par/demote');
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/par')).body.tier === 'expired', 'demoted');
  const res = await Promise.all(Array.from({ length: 10 }, () => send(stack.ts, 'POST', '/v1/campaigns/par/restore')));
  assert.ok(res.every((r) => r.status === 202 || r.status === 200), JSON.stringify(res.map((r) => r.status)));
  const s = await eventually(async () => {
    const b = (await getJson(stack.ts, '/v1/campaigns/par')).body;
    return b.tier === 'hot' ? b : undefined;
  }, 'restored');
  assert.is(s.transitions.filter((t: { tier: string }) => t.tier === 'restoring').length, 1);
  assert.is(s.restore.progress, 1);
  assert.ok(s.restore.finishedAt >= s.restore.startedAt);
});

test('a restore load never overwrites a newer time ingest wrote, and the next demotion removes every key it made', async ({ stack }) => {
  const source = { kind: 'campaign', id: 'merge' } as const;
  const { ts } = stack;
  await send(ts, 'PUT', '/v1/campaigns/merge', { status: 'active' });
  await ts.hot.setGate(source, 'restoring');
  // Ingest wrote u1 (newer than history) and u2 (older) while the restore runs.
  await ts.hot.apply([{ source, indexes: new Map([['any', new Map([['u1', 9_000], ['u2', 100]])], ['e:open', new Map([['u1', 9_000], ['u2', 100]])]]) }]);
  const history = new Map([['u1', 5_000], ['u2', 5_000], ['u3', 5_000]]);
  await ts.hot.load({ source, indexes: new Map([['any', history], ['e:open', new Map(history)], ['v:b:open', new Map(history)]]) });
  await ts.hot.setGate(source, null);
  const merged = { u1: 9_000, u2: 5_000, u3: 5_000 };
  assert.equal(await hotState(ts, source), { any: merged, 'e:open': merged, 'v:b:open': { u1: 5_000, u2: 5_000, u3: 5_000 } });
  await send(ts, 'POST', '/v1/campaigns/merge/demote');
  await eventually(async () => (await getJson(ts, '/v1/campaigns/merge')).body.tier === 'expired', 'demoted');
  assert.is(await ts.hot.sourceKeyCount(source), 0);
  // The meta (with the dictionary the load added v:b:open to) is gone too.
  assert.equal(await hotState(ts, source), {});
  const redis = createRedis({ url: testConfig(stack.ns).redisUrl });
  try {
    assert.is(await redis.exists(sourceKeys(stack.ns, source).meta), 0);
  } finally {
    redis.disconnect();
  }
});

test('bad filters get 400 with the path of the offending node', async ({ stack }) => {
  const cases: [unknown, string][] = [
    [{ campaign: 'A' }, 'filter.event'],
    [{ and: [] }, 'filter.and'],
    [{ or: [{ campaign: 'A', event: 'send' }, { campaign: 'A', event: 'send', color: 1 }] }, 'filter.or[1].color'],
    [{ not: { campaign: "A'--", event: 'send' } }, 'filter.not.campaign'],
    [{ campaign: 'A', canvas: 'C', event: 'send' }, 'filter'],
    [{ campaign: 'A', step: 's', event: 'send' }, 'filter.step'],
    [{ campaign: 'A', event: 'send', within: 'soon' }, 'filter.within'],
    [{ campaign: 'A', event: 'send', after: '2026-01-01' }, 'filter.after'],
    [{ tag: 'spring', campaign: 'A', event: 'send' }, 'filter'],
    [{ tag: 'spring', event: 'send', variant: 'v1' }, 'filter.variant'],
    [{ tag: 'spring', kind: 'canvas', event: 'send', step: 's1' }, 'filter.step'],
    [{ tag: 'spring', kind: 'campaigns', event: 'send' }, 'filter.kind'],
    [{ tag: 'spr ing', event: 'send' }, 'filter.tag'],
    [{ tag: 'x'.repeat(129), event: 'send' }, 'filter.tag'],
    [{ tag: '..', event: 'send' }, 'filter.tag'],
    [{ tag: 'spring' }, 'filter.event'],
    [{ and: [{ campaign: 'A', kind: 'campaign', event: 'send' }] }, 'filter.and[0].kind'],
  ];
  for (const [filter, path] of cases) {
    const r = await send(stack.ts, 'PUT', '/v1/filters/bad', { filter });
    assert.is(r.status, 400, JSON.stringify(filter));
    assert.is(r.body.error, 'invalid_filter');
    assert.is(r.body.path, path, JSON.stringify(filter));
  }
  const deep = Array.from({ length: 8 }).reduce<object>((f) => ({ not: f }), { campaign: 'A', event: 'send' });
  assert.is((await send(stack.ts, 'PUT', '/v1/filters/bad', { filter: deep })).body.error, 'invalid_filter');
  const wide = { or: Array.from({ length: 33 }, () => ({ campaign: 'A', event: 'send' })) };
  assert.match((await send(stack.ts, 'PUT', '/v1/filters/bad', { filter: wide })).body.message, /32 leaves/);
  assert.is((await getJson(stack.ts, '/v1/filters/bad')).status, 404);
});

test.run();
