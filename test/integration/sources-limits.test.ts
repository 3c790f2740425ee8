import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, send, startStack, type Stack } from './helpers.js';

/**
 * Issue 22, findings 4 and 7: a source that does not exist is refused by name (never a silently
 * empty answer, never a ghost source), a source is declared and deleted by the API, and the
 * named limits dead-letter events and refuse requests with their own codes.
 */
const known = suite<{ stack: Stack }>('unknown sources');
known.before(async (ctx) => {
  ctx.stack = await startStack();
});
known.after(async (ctx) => {
  await ctx.stack?.stop();
});

const historyOf = async (stack: Stack, path: string) => (await getJson(stack.ts, path)).body.counts?.history;

known('a lookup naming a source that does not exist answers 404 source_not_found naming it, hot and history; a tag no source carries still answers', async ({ stack }) => {
  await stack.publish([{ id: 'k1', type: 'send', userId: 'u1', campaignId: 'c1', time: 1_000 }, { id: 'k2', type: 'send', userId: 'u2', canvasId: 'v1', time: 1_000 }]);
  await eventually(async () => (await historyOf(stack, '/v1/campaigns/c1')) === 1 && (await historyOf(stack, '/v1/canvases/v1')) === 1, 'ingested');
  const typo = { campaign: 'C1', event: 'send' };
  const bodies = { check: { userIds: ['u1', 'u2'] }, count: {}, audience: {} } as const;
  for (const op of ['check', 'count', 'audience'] as const) {
    for (const from of ['hot', 'history']) {
      const lone = await send(stack.ts, 'POST', `/v1/retargeting/${op}`, { filter: typo, from, ...bodies[op] });
      assert.is(lone.status, 404, `${op} ${from}`);
      assert.is(lone.body.error, 'source_not_found');
      assert.equal(lone.body.sources, ['campaign:C1']);
      // Inside a not, the typo used to answer every user of the other sources.
      const inNot = await send(stack.ts, 'POST', `/v1/retargeting/${op}`, {
        filter: { and: [{ canvas: 'v1', event: 'send' }, { not: typo }, { not: { canvas: 'V9', event: 'open' } }] }, from, ...bodies[op],
      });
      assert.is(inNot.status, 404, `${op} ${from} in a not`);
      assert.equal(inNot.body.sources, ['campaign:C1', 'canvas:V9']);
    }
  }
  const ok = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { campaign: 'c1', event: 'send' }, userIds: ['u1', 'u2'] });
  assert.equal(ok.body.matched, ['u1']);
  const noTag = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter: { tag: 'nobody-has-it', event: 'send' } });
  assert.is(noTag.status, 200);
  assert.is(noTag.body.count, 0);
});

known('PUT /v1/filters naming a source that does not exist answers 404 and creates no source', async ({ stack }) => {
  await send(stack.ts, 'PUT', '/v1/campaigns/fk1', { status: 'active' });
  const put = await send(stack.ts, 'PUT', '/v1/filters/typo', { filter: { or: [{ campaign: 'fk1', event: 'send' }, { campaign: 'FK1', event: 'send' }] } });
  assert.is(put.status, 404);
  assert.is(put.body.error, 'source_not_found');
  assert.equal(put.body.sources, ['campaign:FK1']);
  assert.is((await getJson(stack.ts, '/v1/campaigns/FK1')).status, 404);
  assert.is((await getJson(stack.ts, '/v1/filters/typo')).status, 404);
  assert.equal((await getJson(stack.ts, '/v1/campaigns/fk1')).body.pinnedBy, []);
  const tagOnly = await send(stack.ts, 'PUT', '/v1/filters/tagged', { filter: { tag: 'nobody-has-it', event: 'send' } });
  assert.is(tagOnly.status, 200);
  assert.is((await send(stack.ts, 'DELETE', '/v1/filters/tagged')).status, 204);
});

known('a source declared by PUT serves filters before its first event; one without events can be deleted, and comes back with its first event', async ({ stack }) => {
  const declared = await send(stack.ts, 'PUT', '/v1/canvases/d1', { status: 'active', name: 'Welcome' });
  assert.is(declared.status, 200);
  assert.is((await send(stack.ts, 'PUT', '/v1/filters/fd1', { filter: { canvas: 'd1', event: 'open' } })).status, 200);
  const count = await send(stack.ts, 'POST', '/v1/filters/fd1/count');
  assert.equal([count.status, count.body.count], [200, 0]);
  const pinned = await send(stack.ts, 'DELETE', '/v1/canvases/d1');
  assert.is(pinned.status, 409);
  assert.is(pinned.body.error, 'source_pinned');
  assert.equal(pinned.body.pinnedBy, ['fd1']);
  assert.is((await send(stack.ts, 'DELETE', '/v1/filters/fd1')).status, 204);
  assert.is((await send(stack.ts, 'DELETE', '/v1/canvases/d1')).status, 204);
  assert.is((await getJson(stack.ts, '/v1/canvases/d1')).status, 404);
  assert.is((await send(stack.ts, 'DELETE', '/v1/canvases/d1')).status, 404);
  const lookup = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter: { canvas: 'd1', event: 'open' } });
  assert.is(lookup.status, 404);
  // Its first event creates it again (the engine must not remember it as known).
  await stack.publish([{ id: 'd1-e1', type: 'open', userId: 'u1', canvasId: 'd1', time: 2_000 }]);
  await eventually(async () => (await historyOf(stack, '/v1/canvases/d1')) === 1, 'recreated by its event');
  const state = (await getJson(stack.ts, '/v1/canvases/d1')).body;
  assert.equal([state.tier, state.name], ['hot', null]);
  // History holds the event before the hot index does (the batch writer's order): wait for both.
  await eventually(async () => {
    const again = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { canvas: 'd1', event: 'open' }, userIds: ['u1'] });
    return JSON.stringify(again.body.matched) === JSON.stringify(['u1']);
  }, 'u1 matched from the hot index');
  const busy = await send(stack.ts, 'DELETE', '/v1/canvases/d1');
  assert.equal([busy.status, busy.body.error, busy.body.events], [409, 'source_has_events', 1]);
});

known('a deleted expired source leaves no closed gate: its next event reaches the hot index', async ({ stack }) => {
  await send(stack.ts, 'PUT', '/v1/campaigns/x1', { status: 'stopped' });
  await send(stack.ts, 'POST', '/v1/campaigns/x1/demote');
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/x1')).body.tier === 'expired', 'expired');
  assert.is((await send(stack.ts, 'DELETE', '/v1/campaigns/x1')).status, 204);
  await stack.publish([{ id: 'x1-e1', type: 'click', userId: 'u7', campaignId: 'x1', time: 3_000 }]);
  await eventually(async () => (await historyOf(stack, '/v1/campaigns/x1')) === 1, 'recreated');
  // The count shows the history insert at once; the hot write comes after it.
  await eventually(async () => stack.ts.engine!.inflight() === 0, 'hot write done');
  const check = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { campaign: 'x1', event: 'click' }, userIds: ['u7'] });
  assert.equal(check.body.matched, ['u7']);
});

known('a source whose events were all erased can be deleted; its next event creates it again (ingest does not remember it)', async ({ stack }) => {
  await stack.publish([{ id: 'er-1', type: 'send', userId: 'gone', campaignId: 'er1', time: 1_000 }]);
  await eventually(async () => (await historyOf(stack, '/v1/campaigns/er1')) === 1, 'ingested');
  const erasure = await send(stack.ts, 'DELETE', '/v1/users/gone');
  await eventually(async () => (await getJson(stack.ts, `/v1/erasures/${erasure.body.id}`)).body.status === 'done', 'erased');
  await eventually(async () => (await send(stack.ts, 'DELETE', '/v1/campaigns/er1')).status === 204, 'deleted');
  await stack.publish([{ id: 'er-2', type: 'send', userId: 'back', campaignId: 'er1', time: 2_000 }]);
  await eventually(async () => (await historyOf(stack, '/v1/campaigns/er1')) === 1, 'created again by its event');
});

known('PATCH changes the fields given and leaves the others; it never creates a source', async ({ stack }) => {
  await send(stack.ts, 'PUT', '/v1/campaigns/p1', { status: 'active', name: 'Spring', tags: ['a', 'b'] });
  const tags = await send(stack.ts, 'PATCH', '/v1/campaigns/p1', { tags: ['c'] });
  assert.is(tags.status, 200);
  assert.equal([tags.body.name, tags.body.tags, tags.body.status], ['Spring', ['c'], 'active']);
  const stop = await send(stack.ts, 'PATCH', '/v1/campaigns/p1', { status: 'stopped', stoppedAt: '2026-01-02T00:00:00Z' });
  assert.equal([stop.body.status, stop.body.stoppedAt, stop.body.name, stop.body.tags], ['stopped', '2026-01-02T00:00:00.000Z', 'Spring', ['c']]);
  const moved = await send(stack.ts, 'PATCH', '/v1/campaigns/p1', { stoppedAt: '2026-01-03T00:00:00Z' });
  assert.equal([moved.status, moved.body.stoppedAt], [200, '2026-01-03T00:00:00.000Z']);
  const cleared = await send(stack.ts, 'PATCH', '/v1/campaigns/p1', { name: null });
  assert.equal([cleared.body.name, cleared.body.status, cleared.body.stoppedAt], [null, 'stopped', '2026-01-03T00:00:00.000Z']);
  const active = await send(stack.ts, 'PATCH', '/v1/campaigns/p1', { status: 'active' });
  assert.equal([active.body.status, active.body.stoppedAt, active.body.tags], ['active', null, ['c']]);
  assert.is((await send(stack.ts, 'PATCH', '/v1/campaigns/p1', { stoppedAt: '2026-01-03T00:00:00Z' })).status, 400);
  assert.is((await send(stack.ts, 'PATCH', '/v1/campaigns/p1', { tier: 'hot' })).status, 400);
  const unknown = await send(stack.ts, 'PATCH', '/v1/canvases/p1', { name: 'x' });
  assert.equal([unknown.status, unknown.body.error], [404, 'source_not_found']);
  assert.is((await getJson(stack.ts, '/v1/canvases/p1')).status, 404);
});

known.run();

const limited = suite<{ stack: Stack }>('named limits');
limited.before(async (ctx) => {
  ctx.stack = await startStack(undefined, {}, {
    TIER_EXPIRE_AFTER: 'PT2S', TIER_SCAN_INTERVAL: 'PT0.2S',
    TIERSTREAM_MAX_VARIANTS_AND_STEPS: '3', TIERSTREAM_MAX_SOURCES: '3', TIERSTREAM_MAX_FILTERS: '2', TIERSTREAM_MAX_TAGS: '2',
    TIERSTREAM_MAX_LINK_ALIASES: '2',
  });
});
limited.after(async (ctx) => {
  await ctx.stack?.stop();
});

limited('variants and steps past the limit per source are dead-lettered too_many_variants_and_steps; admitted ones keep being accepted', async ({ stack }) => {
  // One source (campaign l1): 5 distinct variants, one event each, and 5 events without.
  await stack.publish([
    ...['v1', 'v2', 'v3', 'v4', 'v5'].map((v, i) => ({ id: `lv${i}`, type: 'send', userId: `u${i}`, campaignId: 'l1', variantId: v, time: 1_000 })),
    ...Array.from({ length: 5 }, (_, i) => ({ id: `ln${i}`, type: 'open', userId: `u${i}`, campaignId: 'l1', time: 2_000 })),
  ]);
  const letters = await eventually(async () => {
    const d = (await stack.dlq()).filter((l) => l.code === 'too_many_variants_and_steps');
    return d.length === 2 ? d : undefined;
  }, 'two dead letters');
  const refused = letters.map((l) => JSON.parse(l.data).variantId as string).sort();
  await eventually(async () => (await historyOf(stack, '/v1/campaigns/l1')) === 8, 'the 8 others written');
  const admitted = ['v1', 'v2', 'v3', 'v4', 'v5'].filter((v) => !refused.includes(v));
  // An admitted variant is still accepted; a refused one is still refused.
  await stack.publish([{ id: 'lv-again', type: 'click', userId: 'u9', campaignId: 'l1', variantId: admitted[0], time: 3_000 }, { id: 'lv-no', type: 'click', userId: 'u9', campaignId: 'l1', variantId: refused[0], time: 3_000 }]);
  await eventually(async () => (await historyOf(stack, '/v1/campaigns/l1')) === 9, 'admitted variant accepted');
  await eventually(async () => (await stack.dlq()).filter((l) => l.code === 'too_many_variants_and_steps').length === 3, 'refused again');
  const matched = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { campaign: 'l1', variant: admitted[0], event: 'click' }, userIds: ['u9'] });
  assert.equal(matched.body.matched, ['u9']);
});

limited('link aliases past the namespace limit are dead-lettered too_many_link_aliases, over every source; admitted ones keep being accepted', async ({ stack }) => {
  // Three distinct aliases where two fit (the namespace's set, whatever the source).
  await stack.publish([
    { id: 'la1', type: 'click', userId: 'u1', campaignId: 'l1', linkAlias: 'a1', time: 1_000 },
    { id: 'la2', type: 'click', userId: 'u2', campaignId: 'l1', linkAlias: 'a2', time: 1_000 },
    { id: 'la3', type: 'click', userId: 'u3', campaignId: 'l1', linkAlias: 'a3', time: 1_000 },
  ]);
  const letters = await eventually(async () => {
    const d = (await stack.dlq()).filter((l) => l.code === 'too_many_link_aliases');
    return d.length === 1 ? d : undefined;
  }, 'one dead letter');
  const refused = JSON.parse(letters[0]!.data).linkAlias as string;
  const admitted = ['a1', 'a2', 'a3'].find((a) => a !== refused)!;
  await stack.publish([{ id: 'la4', type: 'click', userId: 'u9', campaignId: 'l1', linkAlias: admitted, time: 3_000 }]);
  await eventually(async () => {
    const r = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter: { any: 'message', event: 'click', alias: admitted }, userIds: ['u9'] });
    return r.body.matched?.length === 1;
  }, 'an admitted alias still accepted');
  assert.is((await stack.dlq()).filter((l) => l.code === 'too_many_link_aliases').length, 1);
});

limited('a new source past the namespace limit: its events are dead-lettered too_many_sources, PUT answers 409 naming the limit', async ({ stack }) => {
  // l1 exists; two more fit.
  assert.is((await send(stack.ts, 'PUT', '/v1/campaigns/s2', { status: 'active' })).status, 200);
  await stack.publish([{ id: 's3-1', type: 'send', userId: 'u1', canvasId: 's3', stepId: 'a', time: 1_000 }]);
  await eventually(async () => (await historyOf(stack, '/v1/canvases/s3')) === 1, 's3 created');
  await stack.publish([{ id: 's4-1', type: 'send', userId: 'u1', campaignId: 's4', time: 1_000 }, { id: 's4-2', type: 'open', userId: 'u1', campaignId: 's4', time: 1_000 }]);
  await eventually(async () => (await stack.dlq()).filter((l) => l.code === 'too_many_sources').length === 2, 'dead-lettered');
  assert.is((await getJson(stack.ts, '/v1/campaigns/s4')).status, 404);
  const put = await send(stack.ts, 'PUT', '/v1/campaigns/s5', { status: 'active' });
  assert.equal([put.status, put.body.error, put.body.limit, put.body.max], [409, 'too_many_sources', 'sources', 3]);
  // Known sources are updated as before; deleting one makes room.
  assert.is((await send(stack.ts, 'PUT', '/v1/campaigns/s2', { status: 'stopped' })).status, 200);
  assert.is((await send(stack.ts, 'DELETE', '/v1/campaigns/s2')).status, 204);
  assert.is((await send(stack.ts, 'PUT', '/v1/campaigns/s5', { status: 'active' })).status, 200);
});

limited('registered filters past the limit: 409 too_many_filters; replacing one is not a new one', async ({ stack }) => {
  const f = { filter: { campaign: 'l1', event: 'send' } };
  assert.is((await send(stack.ts, 'PUT', '/v1/filters/f1', f)).status, 200);
  assert.is((await send(stack.ts, 'PUT', '/v1/filters/f2', f)).status, 200);
  const third = await send(stack.ts, 'PUT', '/v1/filters/f3', f);
  assert.equal([third.status, third.body.error, third.body.limit, third.body.max], [409, 'too_many_filters', 'filters', 2]);
  assert.is((await getJson(stack.ts, '/v1/filters/f3')).status, 404);
  assert.is((await send(stack.ts, 'PUT', '/v1/filters/f1', { filter: { campaign: 'l1', event: 'open' } })).status, 200);
  assert.is((await send(stack.ts, 'DELETE', '/v1/filters/f2')).status, 204);
  assert.is((await send(stack.ts, 'PUT', '/v1/filters/f3', f)).status, 200);
});

limited('tags past the limit per source: 400 too_many_tags naming the limit, on PUT and PATCH', async ({ stack }) => {
  const put = await send(stack.ts, 'PUT', '/v1/campaigns/l1', { status: 'active', tags: ['a', 'b', 'c'] });
  assert.equal([put.status, put.body.error, put.body.limit, put.body.max], [400, 'too_many_tags', 'tags_per_source', 2]);
  const patch = await send(stack.ts, 'PATCH', '/v1/campaigns/l1', { tags: ['a', 'b', 'c'] });
  assert.equal([patch.status, patch.body.error], [400, 'too_many_tags']);
  assert.is((await send(stack.ts, 'PATCH', '/v1/campaigns/l1', { tags: ['a', 'b'] })).status, 200);
});

limited.run();
