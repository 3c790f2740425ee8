import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { eventually, getJson, hotState, historyFold, send, startStack, testConfig, TEST_ENGINE } from './helpers.js';
import { rng } from '../../scripts/generate.js';
import { createTierstream } from '../../runtime.js';

const src = (id: string) => ({ kind: 'campaign', id }) as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('ingest interleaved with demote and restore of the same source ends consistent (randomised schedules)', async () => {
  const stack = await startStack();
  try {
    for (const seed of [1, 2, 3, 4]) {
      const rand = rng(seed);
      const id = `mix${seed}`;
      let n = 0;
      for (let round = 0; round < 8; round++) {
        // A burst of events with times in any order, some older than what is already hot.
        const burst = Array.from({ length: 40 + Math.floor(rand() * 80) }, () => ({
          id: `${id}-${n++}`, type: rand() < 0.5 ? 'send' : 'click', userId: `u${Math.floor(rand() * 30)}`,
          campaignId: id, variantId: `v${Math.floor(rand() * 2)}`, time: 1_700_000_000_000 + Math.floor(rand() * 1e6),
        }));
        const publishing = stack.publish(burst);
        const action = rand();
        if (action < 0.4) void send(stack.ts, 'POST', `/v1/campaigns/${id}/demote`);
        else if (action < 0.8) void send(stack.ts, 'POST', `/v1/campaigns/${id}/restore`);
        await sleep(Math.floor(rand() * 60));
        await publishing;
      }
      await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.counts?.history === n, `${id}: all ${n} events in history`);
      await stack.ts.tiers.settled();
      const rec = await eventually(async () => {
        const s = (await getJson(stack.ts, `/v1/campaigns/${id}`)).body;
        return s.tier === 'hot' || s.tier === 'expired' ? s : undefined;
      }, 'settled tier');
      // Let the batches in flight land before comparing.
      await eventually(async () => stack.ts.engine!.inflight() === 0, 'no batch in flight');
      if (rec.tier === 'expired') {
        assert.is(await stack.ts.hot.sourceKeyCount(src(id)), 0, `${id}: a demoted source has no Redis keys`);
        await send(stack.ts, 'POST', `/v1/campaigns/${id}/restore`);
        await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.tier === 'hot', `${id} restored`);
      }
      assert.equal(await hotState(stack.ts, src(id)), await historyFold(stack.ts, src(id)), `${id}: hot equals the fold of history`);
    }
  } finally {
    await stack.stop();
  }
});

test('two engine processes on one namespace make each transition once', async () => {
  // Two ingest processes share the consumer: each acknowledges message by message.
  const a = await startStack(undefined, { ackMode: 'explicit' });
  const b = await createTierstream(testConfig(a.ns, { TIER_EXPIRE_AFTER: 'PT2S', TIER_SCAN_INTERVAL: 'PT0.2S' }), {
    engine: { ...TEST_ENGINE, ackMode: 'explicit' }, tiers: { leaseMs: 3_000 }, log: pino({ level: 'silent' }),
  });
  await b.engine!.start();
  b.tiers.start();
  try {
    await a.publish(Array.from({ length: 300 }, (_, i) => ({ id: `two-${i}`, type: 'send', userId: `u${i % 50}`, campaignId: 'two', time: 1_000 + i })));
    await eventually(async () => (await getJson(a.ts, '/v1/campaigns/two')).body.counts?.history === 300, 'ingested by both');
    await send(b.app, 'PUT', '/v1/campaigns/two', { status: 'stopped' });
    const s = await eventually(async () => {
      const body = (await getJson(a.ts, '/v1/campaigns/two')).body;
      return body.tier === 'expired' ? body : undefined;
    }, 'expired');
    await sleep(600); // more scans of both processes
    const tiersOf = (x: { transitions: { tier: string }[] }) => x.transitions.map((t) => t.tier);
    assert.equal(tiersOf((await getJson(b.app, '/v1/campaigns/two')).body), ['hot', 'demoting', 'expired']);
    assert.equal(tiersOf(s), ['hot', 'demoting', 'expired']);
    // Restores asked of both processes at once: one restore.
    await Promise.all([send(a.ts, 'POST', '/v1/campaigns/two/restore'), send(b.app, 'POST', '/v1/campaigns/two/restore')]);
    const hot = await eventually(async () => {
      const body = (await getJson(b.app, '/v1/campaigns/two')).body;
      return body.tier === 'hot' ? body : undefined;
    }, 'restored');
    assert.equal(tiersOf(hot), ['hot', 'demoting', 'expired', 'restoring', 'hot']);
    assert.is(hot.counts.hot, 50);
  } finally {
    await b.close();
    await a.stop();
  }
});

test('a demotion that outlasts its lease is not taken over: the claim is renewed while it works', async () => {
  const a = await startStack(undefined, {}, { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT0.2S' });
  const b = await createTierstream(testConfig(a.ns, { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT0.2S' }), {
    engine: TEST_ENGINE, tiers: { leaseMs: 1_000 }, log: pino({ level: 'silent' }),
  });
  b.tiers.start();
  try {
    await a.publish(Array.from({ length: 50 }, (_, i) => ({ id: `slow-${i}`, type: 'send', userId: `u${i}`, campaignId: 'slow', time: 1_000 + i })));
    await eventually(async () => (await getJson(a.ts, '/v1/campaigns/slow')).body.counts?.hot === 50, 'ingested');
    // b's key drop takes three leases; a's scans look for lapsed claims meanwhile.
    const drop = b.hot.dropSource.bind(b.hot);
    b.hot.dropSource = async (source) => {
      await sleep(3_000);
      return drop(source);
    };
    assert.is((await send(b.app, 'POST', '/v1/campaigns/slow/demote')).status, 202);
    const s = await eventually(async () => {
      const body = (await getJson(a.ts, '/v1/campaigns/slow')).body;
      return body.tier === 'expired' ? body : undefined;
    }, 'expired', 20_000);
    assert.equal(s.transitions.map((t: { tier: string }) => t.tier), ['hot', 'demoting', 'expired']);
  } finally {
    await b.close();
    await a.stop();
  }
});

test('Redis losing the namespace during ingest is noticed and healed from history', async () => {
  const stack = await startStack();
  try {
    // One source expired before the loss: it must stay without keys.
    await stack.publish(Array.from({ length: 50 }, (_, i) => ({ id: `old-${i}`, type: 'send', userId: `u${i}`, campaignId: 'old', time: 1_000 + i })));
    await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/old')).body.counts?.history === 50, 'old ingested');
    await send(stack.ts, 'POST', '/v1/campaigns/old/demote');
    await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/old')).body.tier === 'expired', 'old expired');

    const N = 4_000;
    const events = Array.from({ length: N }, (_, i) => ({
      id: `fl-${i}`, type: i % 2 ? 'open' : 'send', userId: `u${i % 500}`, campaignId: `fl${i % 3}`, time: 5_000 + ((i * 7919) % N),
    }));
    const publishing = (async () => {
      for (let i = 0; i < N; i += 200) {
        await stack.publish(events.slice(i, i + 200));
        // A late event for the expired source during the outage, too.
        if (i === 2_000) await stack.publish([{ id: 'old-late', type: 'click', userId: 'late', campaignId: 'old', time: 9_999 }]);
      }
    })();
    await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/fl0')).body.counts?.history > 300, 'ingest under way');
    await stack.ts.hot.unlinkNamespace(); // what FLUSHALL or an empty restart does to this namespace
    await publishing;
    for (const id of ['fl0', 'fl1', 'fl2']) {
      await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.counts?.history === events.filter((e) => e.campaignId === id).length, `${id} ingested`);
    }
    // The rebuild was claimed (the counter moves at the claim), then /readyz is ready once it ended.
    await eventually(async () => Number((await stack.ts.metrics.hotRebuilds.get()).values[0]?.value) >= 2, 'a rebuild after the loss');
    await eventually(async () => (await stack.ts.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 'ready again');
    await eventually(async () => stack.ts.engine!.inflight() === 0, 'no batch in flight');
    for (const id of ['fl0', 'fl1', 'fl2']) {
      assert.equal(await hotState(stack.ts, src(id)), await historyFold(stack.ts, src(id)), `${id} healed`);
    }
    assert.is(await stack.ts.hot.sourceKeyCount(src('old')), 0);
    assert.is((await getJson(stack.ts, '/v1/campaigns/old')).body.counts.history, 51);
  } finally {
    await stack.stop();
  }
});

test.run();
