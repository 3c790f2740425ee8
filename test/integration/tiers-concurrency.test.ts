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

test('a restore stalled inside a chunk keeps its lease: renewed on a timer, not only between chunks; no resume, no restart', async () => {
  // Chunk 0 of the restore is read and then held (a write stalled on a busy Redis) for four leases.
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const reachedP = new Promise<void>((r) => (reached = r));
  const a = await startStack(undefined, {}, { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT0.2S' }, {
    leaseMs: 1_000, restoreChunkRows: 10,
    beforeChunkWrite: async (at) => {
      if (at.source.id !== 'stall' || at.work !== 'restore' || at.chunk !== 0) return;
      reached();
      await released;
    },
  });
  // b: another process whose scans look for lapsed claims meanwhile.
  const b = await createTierstream(testConfig(a.ns, { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT0.2S' }), {
    engine: TEST_ENGINE, tiers: { leaseMs: 1_000 }, log: pino({ level: 'silent' }),
  });
  b.tiers.start();
  try {
    await a.publish(Array.from({ length: 50 }, (_, i) => ({ id: `stall-${i}`, type: 'send', userId: `u${i}`, campaignId: 'stall', time: 1_000 + i })));
    await eventually(async () => (await getJson(a.ts, '/v1/campaigns/stall')).body.counts?.hot === 50, 'ingested');
    assert.is((await send(a.ts, 'POST', '/v1/campaigns/stall/demote')).status, 202);
    await eventually(async () => (await getJson(a.ts, '/v1/campaigns/stall')).body.tier === 'expired', 'expired');
    assert.is((await send(a.ts, 'POST', '/v1/campaigns/stall/restore')).status, 202);
    await reachedP;
    const owner = a.ts.registry.peek(src('stall'))?.lease?.owner;
    await sleep(4_000);
    const held = await a.ts.registry.get(src('stall'));
    assert.is(held?.tier, 'restoring');
    assert.is(held?.lease?.owner, owner, 'the claim is still the first process\'s');
    assert.ok((held?.lease?.until ?? 0) > Date.now(), 'its lease is live');
    release();
    const s = await eventually(async () => {
      const body = (await getJson(a.ts, '/v1/campaigns/stall')).body;
      return body.tier === 'hot' ? body : undefined;
    }, 'restored', 20_000);
    assert.equal(s.transitions.map((t: { tier: string }) => t.tier), ['hot', 'demoting', 'expired', 'restoring', 'hot']);
    assert.not.ok(s.transitions.some((t: { reason: string }) => /resumed/.test(t.reason)), 'never resumed by a scan');
    assert.is(s.counts.hot, 50);
  } finally {
    release();
    await b.close();
    await a.stop();
  }
});

test('tag and filter changes on two processes, racing expiry scans, demotions and restores: pins end as the final tags and filters say', async () => {
  const env = { TIER_EXPIRE_AFTER: 'PT1S', TIER_SCAN_INTERVAL: 'PT0.2S' };
  // Two ingest processes on the consumer: each acknowledges message by message.
  const a = await startStack(undefined, { ackMode: 'explicit' }, env);
  const b = await createTierstream(testConfig(a.ns, env), { engine: { ...TEST_ENGINE, ackMode: 'explicit' }, tiers: { leaseMs: 3_000 }, log: pino({ level: 'silent' }) });
  await b.engine!.start();
  b.tiers.start();
  const SOURCES = [['campaigns', 'campaign', 'tc0'], ['campaigns', 'campaign', 'tc1'], ['campaigns', 'campaign', 'tc2'], ['canvases', 'canvas', 'tv0'], ['canvases', 'canvas', 'tv1']] as const;
  const DEFS: { filter: object; sources: string[]; tags: { tag: string; kind?: string }[] }[] = [
    { filter: { tag: 'x', event: 'send' }, sources: [], tags: [{ tag: 'x' }] },
    { filter: { tag: 'y', kind: 'canvas', event: 'send' }, sources: [], tags: [{ tag: 'y', kind: 'canvas' }] },
    { filter: { or: [{ campaign: 'tc0', event: 'send' }, { not: { tag: 'y', kind: 'campaign', event: 'click' } }] }, sources: ['campaign:tc0'], tags: [{ tag: 'y', kind: 'campaign' }] },
    { filter: { and: [{ tag: 'x', event: 'send' }, { tag: 'y', event: 'open' }] }, sources: [], tags: [{ tag: 'x' }, { tag: 'y' }] },
    { filter: { campaign: 'tc1', event: 'send' }, sources: ['campaign:tc1'], tags: [] },
  ];
  const FILTERS = ['fa', 'fb', 'fc'];
  const long = Date.now() - 3_600_000; // stopped an hour ago: due at once when unpinned
  const tags = new Map<string, string[]>(SOURCES.map(([, kind, id]) => [`${kind}:${id}`, []]));
  const filters = new Map<string, (typeof DEFS)[number]>();
  const node = (rand: () => number) => (rand() < 0.5 ? a.ts : b.app);
  try {
    await a.publish(SOURCES.flatMap(([, kind, id]) => Array.from({ length: 20 }, (_, i) => ({
      id: `${id}-${i}`, type: i % 2 ? 'open' : 'send', userId: `u${i % 7}`, [kind === 'campaign' ? 'campaignId' : 'canvasId']: id, time: 1_000 + i,
    }))));
    for (const [path, , id] of SOURCES) {
      await eventually(async () => (await getJson(a.ts, `/v1/${path}/${id}`)).body.counts?.history === 20, `${id} ingested`);
      await send(a.ts, 'PUT', `/v1/${path}/${id}`, { status: 'stopped', stoppedAt: long, tags: [] });
    }
    for (const seed of [11, 12, 13]) {
      const rand = rng(seed);
      for (let round = 0; round < 12; round++) {
        // One retag, one filter change and one tier change per round, on distinct keys, at once,
        // each on either process: the final tags and filters are known, their order is not.
        const [path, kind, id] = SOURCES[Math.floor(rand() * SOURCES.length)]!;
        const newTags = ['x', 'y'].filter(() => rand() < 0.5);
        tags.set(`${kind}:${id}`, newTags);
        const fid = FILTERS[Math.floor(rand() * FILTERS.length)]!;
        const def = rand() < 0.25 ? undefined : DEFS[Math.floor(rand() * DEFS.length)]!;
        if (def) filters.set(fid, def);
        else filters.delete(fid);
        const [tpath, , tid] = SOURCES[Math.floor(rand() * SOURCES.length)]!;
        const tierOp = rand() < 0.5 ? 'demote' : 'restore';
        const ops = [
          send(node(rand), 'PUT', `/v1/${path}/${id}`, { status: 'stopped', stoppedAt: long, tags: newTags }),
          def ? send(node(rand), 'PUT', `/v1/filters/${fid}`, { filter: def.filter }) : send(node(rand), 'DELETE', `/v1/filters/${fid}`),
          send(node(rand), 'POST', `/v1/${tpath}/${tid}/${tierOp}`),
        ];
        const res = await Promise.all(ops);
        assert.ok(res[0]!.status === 200 && res[1]!.status < 300, JSON.stringify(res.map((r) => r.body)));
        await sleep(Math.floor(rand() * 150));
      }
    }
    const pinsOf = (name: string) => {
      const [kind] = name.split(':');
      return [...filters].filter(([, d]) => d.sources.includes(name) || d.tags.some((t) => (t.kind === undefined || t.kind === kind) && tags.get(name)!.includes(t.tag))).map(([f]) => f).sort();
    };
    for (const [path, kind, id] of SOURCES) {
      for (const [who, app] of [['a', a.ts], ['b', b.app]] as const) {
        await eventually(async () => JSON.stringify((await getJson(app, `/v1/${path}/${id}`)).body.pinnedBy) === JSON.stringify(pinsOf(`${kind}:${id}`)),
          `${who}: ${id} pinned by ${JSON.stringify(pinsOf(`${kind}:${id}`))}`, 5_000);
      }
    }
    for (const fid of FILTERS) {
      const def = filters.get(fid);
      for (const app of [a.ts, b.app]) {
        const r = await getJson(app, `/v1/filters/${fid}`);
        if (!def) {
          assert.is(r.status, 404, fid);
          continue;
        }
        const tagged = SOURCES.map(([, kind, id]) => `${kind}:${id}`).filter((n) => !def.sources.includes(n) && pinsOf(n).includes(fid)).sort();
        assert.equal(r.body.sources, [...def.sources, ...tagged], fid);
      }
    }
    // An admin demotion expires even a pinned source, until restored: restore those, then every
    // pinned source stays hot past its expiry, and every unpinned one expires.
    await a.ts.tiers.settled();
    await b.tiers.settled();
    for (const [path, kind, id] of SOURCES) if (pinsOf(`${kind}:${id}`).length) await send(a.ts, 'POST', `/v1/${path}/${id}/restore`);
    await sleep(2_500);
    for (const [path, kind, id] of SOURCES) {
      const pinned = pinsOf(`${kind}:${id}`).length > 0;
      const s = await eventually(async () => {
        const body = (await getJson(a.ts, `/v1/${path}/${id}`)).body;
        return body.tier === (pinned ? 'hot' : 'expired') ? body : undefined;
      }, `${id} ${pinned ? 'hot while pinned' : 'expired once unpinned'}`, 10_000);
      // Each transition was made once, by one process: never the same tier twice in a row.
      const trail: string[] = s.transitions.map((t: { tier: string }) => t.tier);
      assert.ok(trail.every((t, i) => i === 0 || t !== trail[i - 1]), `${id}: ${trail.join(' ')}`);
      if (pinned) {
        await eventually(async () => a.ts.engine!.inflight() === 0, 'no batch in flight');
        assert.equal(await hotState(a.ts, { kind, id }), await historyFold(a.ts, { kind, id }), `${id}: hot equals the fold of history`);
      } else assert.is(await a.ts.hot.sourceKeyCount({ kind, id }), 0, `${id}: no keys when expired`);
    }
  } finally {
    await b.close();
    await a.stop();
  }
});

test('a tag change made by a process whose filter mirror lags: the other processes repin the source', async () => {
  const a = await startStack(undefined, {}, { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT0.2S' });
  const b = await createTierstream(testConfig(a.ns, { TIER_EXPIRE_AFTER: 'PT1H' }), { engine: TEST_ENGINE, log: pino({ level: 'silent' }) });
  try {
    await send(a.ts, 'PUT', '/v1/campaigns/lag1', { status: 'stopped', tags: [] });
    // b stops hearing of filters: it knows none of those registered from now on.
    b.filterStore.stop();
    assert.is((await send(a.ts, 'PUT', '/v1/filters/late', { filter: { tag: 'lagging', event: 'send' } })).status, 200);
    const tagged = await send(b.app, 'PUT', '/v1/campaigns/lag1', { status: 'stopped', tags: ['lagging'] });
    assert.equal(tagged.body.pinnedBy, [], 'b does not know the filter');
    await eventually(async () => JSON.stringify((await getJson(a.ts, '/v1/campaigns/lag1')).body.pinnedBy) === '["late"]', 'a pinned it on hearing the tag');
    // b keeps pins of filters it does not know when the tag goes; a takes the pin away.
    const untagged = await send(b.app, 'PUT', '/v1/campaigns/lag1', { status: 'stopped', tags: [] });
    assert.equal(untagged.body.pinnedBy, ['late']);
    await eventually(async () => JSON.stringify((await getJson(a.ts, '/v1/campaigns/lag1')).body.pinnedBy) === '[]', 'a unpinned it on hearing the tag go');
    const s = (await getJson(a.ts, '/v1/campaigns/lag1')).body;
    assert.ok(s.expiresAt !== null, 'unpinned: the clock runs again');
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
    // The namespace's first start found no sentinel either: a new namespace, not a lost hot tier.
    assert.is(Number((await stack.ts.metrics.hotRebuilds.get()).values[0]?.value ?? 0), 0, 'no rebuild counted for a new namespace');
    await stack.ts.hot.unlinkNamespace(); // what FLUSHALL or an empty restart does to this namespace
    await publishing;
    for (const id of ['fl0', 'fl1', 'fl2']) {
      await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.counts?.history === events.filter((e) => e.campaignId === id).length, `${id} ingested`);
    }
    // The rebuild was claimed (the counter moves at the claim), then /readyz is ready once it ended.
    await eventually(async () => Number((await stack.ts.metrics.hotRebuilds.get()).values[0]?.value ?? 0) >= 1, 'a rebuild after the loss');
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
