import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Redis } from 'ioredis';
import { foldAggregates, type SourceRecord } from '../../core/index.js';
import { eventually, getJson, historyFold, hotState, send, startStack } from './helpers.js';

/**
 * Restores that resume (issue 27, item 5), against the real stores: a restore stalled on a
 * paused Redis keeps its claim and says why it waits; one taken over from a process that
 * stopped continues from the last chunk that process wrote, and undoes no erasure.
 */

const src = (id: string) => ({ kind: 'campaign', id }) as const;
const ENV = { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT0.2S' };

async function publishAndDemote(stack: Awaited<ReturnType<typeof startStack>>, id: string, n: number) {
  await stack.publish(Array.from({ length: n }, (_, i) => ({ id: `${id}-${i}`, type: i % 2 ? 'open' : 'send', userId: `u${String(i % 30).padStart(2, '0')}`, campaignId: id, time: 1_000 + i })));
  await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.counts?.history === n, 'ingested');
  assert.is((await send(stack.ts, 'POST', `/v1/campaigns/${id}/demote`)).status, 202);
  await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.tier === 'expired', 'expired');
}

test('a restore stalled on a paused Redis (CLIENT PAUSE WRITE) keeps its lease, says it waits for Redis, and finishes without a resume', async () => {
  const pauser = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
  await pauser.connect();
  let paused = false;
  const stack = await startStack(undefined, {}, ENV, {
    leaseMs: 1_000,
    restoreChunkRows: 10,
    // Redis stops taking writes once two chunks are on their way: chunk 2's write waits 4 leases.
    beforeChunkWrite: async (at) => {
      if (at.source.id !== 'paused' || at.chunk !== 2 || paused) return;
      paused = true;
      await pauser.call('CLIENT', 'PAUSE', '4000', 'WRITE');
    },
  });
  try {
    await publishAndDemote(stack, 'paused', 60);
    assert.is((await send(stack.ts, 'POST', '/v1/campaigns/paused/restore')).status, 202);
    const owner = await eventually(async () => stack.ts.registry.peek(src('paused'))?.lease?.owner, 'claimed');
    const waiting = await eventually(async () => {
      const b = (await getJson(stack.ts, '/v1/campaigns/paused')).body;
      return typeof b.restore?.waiting === 'string' ? b : undefined;
    }, 'the state says the restore waits', 10_000);
    assert.match(waiting.restore.waiting, /writing to Redis, which has not finished a chunk for \d+ s/);
    const held = (await stack.ts.registry.get(src('paused'))) as SourceRecord;
    assert.is(held.tier, 'restoring');
    assert.is(held.lease?.owner, owner, 'the first claim, renewed while Redis is paused');
    assert.ok((held.lease?.until ?? 0) > Date.now(), 'live');
    const done = await eventually(async () => {
      const b = (await getJson(stack.ts, '/v1/campaigns/paused')).body;
      return b.tier === 'hot' ? b : undefined;
    }, 'restored', 20_000);
    assert.not.ok(done.transitions.some((t: { reason: string }) => /resumed/.test(t.reason)), 'never resumed');
    assert.is(done.restore.waiting, null);
    assert.equal(await hotState(stack.ts, src('paused')), await historyFold(stack.ts, src('paused')));
  } finally {
    await pauser.call('CLIENT', 'UNPAUSE').catch(() => undefined);
    pauser.disconnect();
    await stack.stop();
  }
});

test('a restore left by a process that stopped is resumed from its last chunk written, reading history from there; an erasure it may have undone stays done', async () => {
  const stack = await startStack(undefined, {}, ENV, { leaseMs: 1_000, restoreChunkRows: 10 });
  try {
    await publishAndDemote(stack, 'left', 60);
    const source = src('left');
    // What a process that restored part of the source and then stopped leaves behind: gate
    // open for ingest, the users before u10 written (as its chunks wrote them), a lapsing claim
    // whose resume point says so, and u03 written again after u03's erasure was done (it had
    // read u03's rows before the erasure and stopped before settling).
    const rows: { userId: string; type: 'send' | 'open'; variantId: string; stepId: string; time: number }[] = [];
    for (let i = 0; i < 60; i++) if (i % 30 < 10) rows.push({ userId: `u${String(i % 30).padStart(2, '0')}`, type: i % 2 ? 'open' : 'send', variantId: '', stepId: '', time: 1_000 + i });
    const startedAt = Date.now(); // the restore began before the erasure
    const erased = await send(stack.ts, 'DELETE', '/v1/users/u03');
    await eventually(async () => ((await getJson(stack.ts, `/v1/erasures/${erased.body.id}`)).body.status === 'done' ? true : undefined), 'erasure done', 30_000);
    await stack.ts.hot.setGate(source, 'restoring');
    await stack.ts.hot.load(foldAggregates(source, rows)); // the stopped process's chunks, the last one landing after the erasure
    const history = stack.ts.history;
    const reads: (string | undefined)[] = [];
    const read = history.aggregateSource.bind(history);
    history.aggregateSource = (s, n, opts) => (s.id === 'left' && reads.push(opts?.fromUser), read(s, n, opts));
    await stack.ts.registry.update(source, (rec) => ({
      ...(rec as SourceRecord),
      tier: 'restoring',
      transitions: [...rec!.transitions, { tier: 'restoring', at: startedAt, reason: 'test' }],
      lease: { owner: 'stopped-process', until: Date.now() + 300 },
      restore: { startedAt, finishedAt: null, progress: 0.3, resume: { from: 'u09', rows: rows.length } },
    }));
    const done = await eventually(async () => {
      const b = (await getJson(stack.ts, '/v1/campaigns/left')).body;
      return b.tier === 'hot' ? b : undefined;
    }, 'finished by the scan', 20_000);
    assert.equal(reads, ['u09'], 'history read from the resume point (its last user again), once');
    assert.match(done.transitions.at(-2).reason, /^resumed after a lapsed restore: resumed, continuing after the 20 rows already written$/);
    const hot = await hotState(stack.ts, source);
    assert.not.ok(Object.values(hot).some((users) => 'u03' in (users as object)), 'u03 stays erased');
    assert.equal(hot, await historyFold(stack.ts, source));
  } finally {
    await stack.stop();
  }
});

test.run();
