import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, send, startStack, type Stack } from './helpers.js';
import { registryKey } from '../../storage/index.js';
import type { SourceRecord } from '../../core/index.js';

const test = suite<{ stack: Stack }>('tiers api');
test.before(async (ctx) => {
  ctx.stack = await startStack();
});
test.after(async (ctx) => {
  await ctx.stack?.stop();
});

const tierOf = async (stack: Stack, path: string) => (await getJson(stack.ts, path)).body.tier;

test('bulk restore by tag and by ids; setting a source active restores it', async ({ stack }) => {
  const ids = ['bk1', 'bk2', 'bk3'];
  await stack.publish(ids.flatMap((id, k) => Array.from({ length: 20 }, (_, i) => ({ id: `${id}-${i}`, type: 'send', userId: `u${i}`, campaignId: id, time: 1_000 + k }))));
  await stack.publish([{ id: 'cv-1', type: 'open', userId: 'u1', canvasId: 'bkc', stepId: 's1', time: 5 }]);
  for (const id of ids) await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.counts?.history === 20, id);
  await eventually(async () => (await getJson(stack.ts, '/v1/canvases/bkc')).body.counts?.history === 1, 'canvas');
  for (const id of ['bk1', 'bk2']) await send(stack.ts, 'PUT', `/v1/campaigns/${id}`, { status: 'stopped', tags: ['black-friday'] });
  for (const path of ['/v1/campaigns/bk1', '/v1/campaigns/bk2', '/v1/campaigns/bk3', '/v1/canvases/bkc']) await send(stack.ts, 'POST', `${path}/demote`);
  for (const path of ['/v1/campaigns/bk1', '/v1/campaigns/bk2', '/v1/campaigns/bk3', '/v1/canvases/bkc']) {
    await eventually(async () => (await tierOf(stack, path)) === 'expired', path);
  }
  const byTag = await send(stack.ts, 'POST', '/v1/restore', { tag: 'black-friday' });
  assert.is(byTag.status, 202);
  assert.equal(byTag.body.sources.map((s: { source: string }) => s.source).sort(), ['campaign:bk1', 'campaign:bk2']);
  await eventually(async () => (await tierOf(stack, '/v1/campaigns/bk1')) === 'hot' && (await tierOf(stack, '/v1/campaigns/bk2')) === 'hot', 'tag restored');
  assert.is(await tierOf(stack, '/v1/campaigns/bk3'), 'expired');
  const byIds = await send(stack.ts, 'POST', '/v1/restore', { ids: ['canvas:bkc', 'campaign:nope'] });
  assert.equal(byIds.body.sources, [
    { source: 'canvas:bkc', tier: 'restoring' },
    { source: 'campaign:nope', tier: null, error: 'source_not_found' },
  ]);
  assert.is((await send(stack.ts, 'POST', '/v1/restore', { ids: ['bkc'] })).status, 400);
  assert.is((await send(stack.ts, 'POST', '/v1/restore', { tag: 'x', ids: ['canvas:bkc'] })).status, 400);
  const active = await send(stack.ts, 'PUT', '/v1/campaigns/bk3', { status: 'active' });
  assert.ok(['restoring', 'hot'].includes(active.body.tier), active.body.tier);
  await eventually(async () => (await tierOf(stack, '/v1/campaigns/bk3')) === 'hot', 'reactivated');
  assert.is((await getJson(stack.ts, '/v1/campaigns/bk3')).body.counts.hot, 20);
});

test('listing filters by tier, status and tag, with a stable cursor', async ({ stack }) => {
  for (let i = 0; i < 7; i++) await send(stack.ts, 'PUT', `/v1/campaigns/ls${i}`, { status: i % 2 ? 'stopped' : 'active', tags: i < 5 ? ['listed'] : [] });
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { items: { id: string }[]; cursor: string | null } } = await getJson(stack.ts, `/v1/campaigns?tag=listed&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    seen.push(...page.body.items.map((s) => s.id));
    cursor = page.body.cursor;
  } while (cursor);
  assert.equal(seen, ['ls0', 'ls1', 'ls2', 'ls3', 'ls4']);
  const stopped = (await getJson(stack.ts, '/v1/campaigns?status=stopped&tag=listed')).body.items.map((s: { id: string }) => s.id);
  assert.equal(stopped, ['ls1', 'ls3']);
  assert.is((await getJson(stack.ts, '/v1/campaigns?tier=frozen')).status, 400);
  assert.is((await getJson(stack.ts, '/v1/campaigns?limit=0')).status, 400);
});

test("the registry's tag index follows tag changes as soon as the write returns, by kind", async ({ stack }) => {
  const src = { kind: 'campaign', id: 'ryw' } as const;
  await stack.ts.registry.ensure([src]);
  for (let i = 0; i < 30; i++) {
    const tag = `ryw${i}`;
    await stack.ts.registry.update(src, (rec) => ({ ...rec!, tags: [tag] }));
    // No await between the write and the read: the mirror holds what this process wrote.
    assert.equal(stack.ts.registry.tagged({ tag }), [src], tag);
    assert.equal(stack.ts.registry.tagged({ tag: `ryw${i - 1}` }), [], `${tag}: the old tag is gone`);
    assert.equal(stack.ts.registry.tagged({ tag, kind: 'canvas' }), [], `${tag}: of its kind only`);
    assert.equal(stack.ts.registry.peek(src)?.tags, [tag]);
  }
});

test('a restore whose process died (lease lapsed) is finished by another', async ({ stack }) => {
  await stack.publish(Array.from({ length: 40 }, (_, i) => ({ id: `cr-${i}`, type: 'click', userId: `u${i % 10}`, campaignId: 'crash', time: 10 + i })));
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/crash')).body.counts?.history === 40, 'ingested');
  const before = await stack.ts.hot.snapshot({ kind: 'campaign', id: 'crash' });
  await send(stack.ts, 'POST', '/v1/campaigns/crash/demote');
  await eventually(async () => (await tierOf(stack, '/v1/campaigns/crash')) === 'expired', 'demoted');
  // What a process that claimed the restore and then died leaves behind: tier restoring,
  // gate restoring, a lease of another owner that is about to lapse, progress part way.
  const source = { kind: 'campaign', id: 'crash' } as const;
  await stack.ts.hot.setGate(source, 'restoring');
  await stack.ts.registry.update(source, (rec) => ({
    ...(rec as SourceRecord),
    tier: 'restoring',
    lease: { owner: 'dead-process', until: Date.now() + 500 },
    restore: { startedAt: Date.now(), finishedAt: null, progress: 0.3 },
  }));
  assert.is(await tierOf(stack, '/v1/campaigns/crash'), 'restoring');
  const s = await eventually(async () => {
    const b = (await getJson(stack.ts, '/v1/campaigns/crash')).body;
    return b.tier === 'hot' ? b : undefined;
  }, 'restore finished by the scan');
  assert.match(s.transitions.at(-2).reason, /resumed/);
  assert.equal(await stack.ts.hot.snapshot(source), before);
  assert.ok(registryKey(source).startsWith('campaign.'));
});

test.run();
