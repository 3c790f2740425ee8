import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { foldEvents, restoreWaiting, type SourceRecord, type SourceRef } from '../../core/index.js';
import { createErasures } from '../../engine/erasures/index.js';
import { MemoryErasureStore } from '../support/memory-erasure-store.js';
import { events, historyBehind, tierProcess, tierWorld, type TierWorld } from '../support/tiers.js';
import { Valve } from '../support/valve.js';

/**
 * The tier manager without servers: in-memory registry, hot index and history (test/support),
 * virtual time for its scans and lease renewals, one lane of it per simulated process.
 */

const A: SourceRef = { kind: 'campaign', id: 'a' };
const B: SourceRef = { kind: 'campaign', id: 'b' };
const HOUR = 3_600_000;

/** History and hot hold `evs`, as ingest leaves them; the sources are registered. */
async function ingested(world: TierWorld, ...evs: ReturnType<typeof events>[]) {
  const all = evs.flat();
  await world.history.insert(all);
  await world.hot.apply(foldEvents(all));
  await world.registry.ensure([...new Map(all.map((e) => [e.source.id, e.source])).values()]);
}

const rec = (world: TierWorld, s: SourceRef) => world.registry.peek(s)!;
const tiersOf = (r: SourceRecord) => r.transitions.map((t) => t.tier);

test('a stopped source is demoted once its retention has passed, unless a filter pins it; its history stays', async () => {
  const world = tierWorld();
  await ingested(world, events('a', 20, 5), events('b', 20, 5));
  const p = tierProcess(world);
  await p.tiers.setLifecycle(A, { status: 'stopped', stoppedAt: world.clock.now() });
  await p.tiers.setLifecycle(B, { status: 'stopped', stoppedAt: world.clock.now() });
  await p.tiers.pin('f1', [B]);
  p.tiers.start();
  try {
    await world.clock.advance(HOUR - 2_000);
    assert.is(rec(world, A).tier, 'hot', 'not yet due');
    await world.clock.until(() => rec(world, A).tier === 'expired', 'a expired', 10_000);
    assert.equal(tiersOf(rec(world, A)), ['hot', 'demoting', 'expired']);
    assert.equal(world.hot.state(A), {}, 'a left Redis');
    assert.is(world.hot.gates.get('campaign:a'), 'expired', 'its gate closed: ingest writes no more');
    assert.is(await world.history.countEvents(A), 20, 'its history stays');
    await world.clock.advance(10 * HOUR);
    assert.is(rec(world, B).tier, 'hot', 'pinned: never due');
    assert.equal(world.hot.state(B), world.history.fold(B));
  } finally {
    await p.tiers.stop();
  }
});

test('a restore copies what history has into Redis, chunk by chunk, while ingest writes too; the source is hot again', async () => {
  const world = tierWorld();
  await ingested(world, events('a', 40, 9));
  const p = tierProcess(world);
  await p.tiers.demote(A, 'test', true);
  await world.clock.until(() => rec(world, A).tier === 'expired', 'expired');
  assert.equal(world.hot.state(A), {});
  const late = events('a', 1, 1, Date.UTC(2026, 0, 1)).map((e) => ({ ...e, id: 'late', userId: 'zz' }));
  const { started } = await p.tiers.restore(A, 'test');
  assert.ok(started);
  await world.hot.apply(foldEvents(late)); // ingest during the restore: the gate is open
  await world.history.insert(late);
  await world.clock.until(() => rec(world, A).tier === 'hot', 'restored');
  await p.tiers.settled();
  assert.equal(world.hot.state(A), world.history.fold(A));
  assert.equal(world.history.reads, [{ source: 'campaign:a', fromUser: undefined }], 'one read, from the first row');
  assert.ok(world.hot.loads.length > 3, 'in chunks');
  const r = rec(world, A);
  assert.equal(tiersOf(r), ['hot', 'demoting', 'expired', 'restoring', 'hot']);
  assert.is(r.restore?.progress, 1);
  assert.is(r.lease, null);
  assert.not.ok(world.hot.gates.has('campaign:a'), 'gate open');
});

test('a restore stalled on a paused Redis keeps its claim on a timer and says why it waits; no other process takes it over', async () => {
  const world = tierWorld();
  await ingested(world, events('a', 40, 9));
  const a = tierProcess(world, {
    beforeChunkWrite: async (at) => void (at.chunk === 2 && world.hot.valve.close()), // Redis pauses after two chunks
  });
  const b = tierProcess(world);
  await a.tiers.demote(A, 'test', true);
  await world.clock.until(() => rec(world, A).tier === 'expired', 'expired');
  await a.tiers.restore(A, 'test');
  b.tiers.start(); // scans for lapsed claims all along
  try {
    await world.clock.until(() => world.hot.valve.waiting > 0, 'a write waits for Redis');
    const owner = rec(world, A).lease!.owner;
    await world.clock.advance(20_000); // six leases
    const held = rec(world, A);
    assert.is(held.tier, 'restoring');
    assert.is(held.lease!.owner, owner, 'still the first process\'s claim');
    assert.ok(held.lease!.until > world.clock.now(), 'renewed: live');
    assert.match(held.restore!.waiting ?? '', /Redis.*has not finished a chunk for \d+ s/);
    assert.is(restoreWaiting(held, world.clock.now()), held.restore!.waiting);
    world.hot.valve.open();
    await world.clock.until(() => rec(world, A).tier === 'hot', 'restored');
    assert.not.ok(rec(world, A).transitions.some((t) => /resumed/.test(t.reason)), 'never resumed');
    assert.equal(world.history.reads.length, 1, 'history read once');
    assert.equal(world.hot.state(A), world.history.fold(A));
  } finally {
    world.hot.valve.open();
    await b.tiers.stop();
    await a.tiers.settled();
  }
});

/**
 * A restores A until its ClickHouse stalls after `chunksBefore` chunks and its process freezes
 * (its timers stop: its claim lapses); `b` takes over. Returns the processes and A's valve.
 */
async function stalledRestore(world: TierWorld, opts: { chunksBefore: number; aFence?: Parameters<typeof tierProcess>[1] }) {
  const aValve = new Valve();
  let chunks = 0;
  const aHistory = historyBehind(world.history, aValve);
  const a = tierProcess(world, {
    history: { ...aHistory, aggregateSource: async function* (s, n, o) {
      for await (const c of aHistory.aggregateSource(s, n, o)) {
        if (++chunks > opts.chunksBefore) aValve.close();
        await aValve.pass();
        yield c;
      }
    } },
    ...opts.aFence,
  });
  await a.tiers.demote(A, 'test', true);
  await world.clock.until(() => rec(world, A).tier === 'expired', 'expired');
  await a.tiers.restore(A, 'test');
  await world.clock.until(() => aValve.waiting > 0, 'A waits for its history');
  await world.clock.advance(1_500); // a renewal records how far the landed chunks go
  return { a, aValve };
}

test('a restore whose process stalls past its lease is taken over and resumed from its last chunk written; the stalled one sends nothing more', async () => {
  const world = tierWorld();
  await ingested(world, events('a', 60, 15));
  const { a, aValve } = await stalledRestore(world, { chunksBefore: 3 });
  const resume = rec(world, A).restore!.resume!;
  assert.equal(resume, { from: world.history.aggregate(A)[11]!.userId, rows: 12 }, 'three chunks of 4 rows landed, in order');
  a.lane.freeze();
  await world.clock.advance(4_000); // the 3 s lease lapses
  assert.match(restoreWaiting(rec(world, A), world.clock.now()) ?? '', /claim lapsed \d+ s ago.*continues from the 12 rows already written/);
  const loadsBefore = world.hot.loads.length;
  const b = tierProcess(world);
  b.tiers.start();
  try {
    await world.clock.until(() => rec(world, A).tier === 'hot', 'finished by b');
    const r = rec(world, A);
    assert.equal(tiersOf(r), ['hot', 'demoting', 'expired', 'restoring', 'restoring', 'hot']);
    assert.match(r.transitions.at(-2)!.reason, /^resumed after a lapsed restore: resumed, continuing after the 12 rows already written$/);
    assert.equal(world.history.reads.at(-1), { source: 'campaign:a', fromUser: resume.from }, 'b read from the resume point, not the first row');
    assert.equal(world.hot.state(A), world.history.fold(A));
    // A wakes: its claim is gone, so the chunk it was waiting for is not sent.
    aValve.open();
    a.lane.thaw();
    const loadsByB = world.hot.loads.length;
    await world.clock.advance(5_000);
    await a.tiers.settled();
    assert.is(world.hot.loads.length, loadsByB, 'a sent nothing after it woke');
    assert.ok(loadsByB - loadsBefore < world.hot.loads.filter((l) => l.source === 'campaign:a').length, 'b did not start over');
    assert.is(rec(world, A).tier, 'hot');
  } finally {
    await b.tiers.stop();
  }
});

test('a resumed restore does not bring back a user erased while the first holder wrote (it stalled before it could settle)', async () => {
  const world = tierWorld();
  await ingested(world, events('a', 60, 15));
  const store = new MemoryErasureStore();
  const fence = () => createErasures({ store, registry: world.registry, history: world.history, hot: world.hot, log: pino({ level: 'silent' }) }, { leaseMs: 3_000, now: world.clock.now }).fence;
  // A knows of no erasure (it never heard of this one): it writes u00, read before the erasure, after it.
  let erase!: () => Promise<void>;
  const { a } = await (async () => {
    const started = stalledRestore(world, {
      chunksBefore: 3,
      aFence: {
        beforeChunkWrite: async (at) => {
          if (at.chunk === 0) await erase();
        },
      },
    });
    erase = async () => {
      // u00's erasure runs now, in another process: history, then every hot index, then done.
      await world.history.eraseUser('u00');
      await world.hot.eraseUser('u00', [A]);
      store.put('e1', { id: 'e1', userId: 'u00', status: 'done', requestedAt: world.clock.now() - 5_000, finishedAt: world.clock.now(), removed: { history: 4, hot: 3 }, lease: null });
    };
    return started;
  })();
  assert.ok(world.hot.state(A).any?.u00 !== undefined, 'A wrote u00 back after the erasure');
  a.lane.freeze();
  await world.clock.advance(4_000);
  const b = tierProcess(world, { erasures: fence() });
  b.tiers.start();
  try {
    await world.clock.until(() => rec(world, A).tier === 'hot', 'finished by b');
    assert.ok(rec(world, A).transitions.at(-2)!.reason.includes('continuing after the 12 rows'), 'resumed, not restarted');
    assert.equal(world.hot.state(A), world.history.fold(A), 'hot equals history: u00 in no index');
    assert.not.ok(Object.values(world.hot.state(A)).some((users) => 'u00' in users));
  } finally {
    await b.tiers.stop();
  }
});

test('Redis lost: one process rebuilds hot and restoring sources from history through the same copy; expired ones stay empty', async () => {
  const world = tierWorld();
  await ingested(world, events('a', 40, 9), events('b', 30, 7));
  const p = tierProcess(world);
  await p.tiers.demote(B, 'test', true);
  await world.clock.until(() => rec(world, B).tier === 'expired', 'b expired');
  world.hot.lose();
  const other = tierProcess(world);
  await p.tiers.checkRedis();
  await other.tiers.checkRedis(); // the sentinel is back: nothing to do
  assert.equal(world.hot.state(A), world.history.fold(A));
  assert.equal(world.hot.state(B), {});
  assert.is(world.hot.gates.get('campaign:b'), 'expired');
  assert.is(world.history.reads.filter((r) => r.source === 'campaign:a').length, 1, 'rebuilt once');
  assert.not.ok(await p.tiers.rebuilding(), 'the claim is given up once done');
});

test.run();
