import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SourceRef } from '../../core/index.js';
import type { AckMode } from '../../engine/ingest/index.js';
import { ingestProcess, ingestWorld, wireEvents, type IngestWorld } from '../support/ingest.js';
import { Valve } from '../support/valve.js';

/**
 * The ingest engine without servers: an in-memory broker (stream, consumer with ack waits and
 * redeliveries), history, hot index and registry (test/support), on virtual time.
 */

const A: SourceRef = { kind: 'campaign', id: 'a' };

async function stop(world: IngestWorld, p: ReturnType<typeof ingestProcess>) {
  const drained = p.engine.drain();
  await world.clock.advance(1_000);
  await drained;
}

const seqs = (world: IngestWorld) => world.broker.stored.map((m) => m.seq);
const sentFor = (world: IngestWorld, what: string) => world.broker.sent.filter((s) => s.startsWith(`${what} `)).map((s) => Number(s.split(' ')[1]));

for (const ackMode of ['cumulative', 'explicit'] as AckMode[]) {
  test(`${ackMode}: events land in history and the hot index, then are acknowledged`, async () => {
    const world = ingestWorld();
    const evs = wireEvents('a', 25, 7);
    for (const e of evs) world.broker.publish(e);
    const p = ingestProcess(world, { ackMode });
    await p.engine.start();
    await world.clock.until(() => world.broker.ackFloor === 25, 'all acknowledged', 5_000);
    assert.is(p.engine.ackMode(), ackMode);
    assert.is(await world.history.countEvents(A), 25);
    assert.equal(world.hot.state(A), world.history.fold(A));
    assert.ok(world.registry.peek(A), 'the source is registered');
    assert.is(world.broker.ackPending, 0);
    assert.is(p.count('eventsIngested'), 25);
    assert.is(p.engine.inflight(), 0);
    if (ackMode === 'explicit') assert.equal(sentFor(world, 'ack').sort((x, y) => x - y), seqs(world), 'one ack each');
    else assert.ok(sentFor(world, 'ack').length <= 3, `one ack per batch at most (${world.broker.sent})`);
    await stop(world, p);
  });

  test(`${ackMode}: a bad message is dead-lettered and settled without holding up the others`, async () => {
    const world = ingestWorld();
    const evs = wireEvents('a', 12, 4);
    for (const e of evs.slice(0, 5)) world.broker.publish(e);
    const bad = world.broker.publish('{"id": "oops"');
    const late = world.broker.publish({ ...evs[5]!, time: Date.UTC(2030, 0, 1) });
    for (const e of evs.slice(6)) world.broker.publish(e);
    const p = ingestProcess(world, { ackMode });
    await p.engine.start();
    await world.clock.until(() => world.broker.ackFloor === 13, 'all settled', 5_000);
    assert.equal(world.broker.deadLetters.map((d) => [d.seq, d.code]), [[bad, 'invalid_json'], [late, 'time_in_future']]);
    assert.is(await world.history.countEvents(A), 11, 'every good event');
    assert.equal(world.hot.state(A), world.history.fold(A));
    if (ackMode === 'explicit') assert.equal(sentFor(world, 'term'), [bad, late], 'dead letters are terminated');
    else assert.equal(sentFor(world, 'term'), [], 'a cumulative ack covers dead letters; never a term');
    assert.is(p.count('deadLetters'), 2);
    await stop(world, p);
  });
}

test('a failed history write is retried; nothing is acknowledged before it lands', async () => {
  const world = ingestWorld();
  for (const e of wireEvents('a', 10, 5)) world.broker.publish(e);
  world.history.failInserts.push(new Error('ClickHouse refused'), new Error('ClickHouse refused'));
  world.history.inserting.close();
  const p = ingestProcess(world, { ackMode: 'explicit' });
  await p.engine.start();
  await world.clock.advance(500);
  assert.is(world.history.inserting.waiting, 1, 'the batch is being written');
  world.history.inserting.open();
  await world.clock.advance(20);
  assert.is(p.count('writeFailures'), 1);
  assert.equal([...sentFor(world, 'ack'), ...sentFor(world, 'term')], [], 'nothing acknowledged after a failure');
  assert.equal(world.hot.state(A), {}, 'nor written to the hot index');
  await world.clock.until(() => world.broker.ackFloor === 10, 'acknowledged once written', 5_000);
  assert.is(world.history.insertCalls, 3, 'two failures, then the write that landed');
  assert.is(await world.history.countEvents(A), 10);
  assert.equal(world.hot.state(A), world.history.fold(A));
  assert.equal(world.broker.deadLetters, [], 'a failing store never dead-letters');
  await stop(world, p);
});

test('batches stalled on a slow history get working() keep-alives and are not redelivered', async () => {
  const world = ingestWorld();
  for (const e of wireEvents('a', 30, 9)) world.broker.publish(e);
  world.history.inserting.close();
  // One write at a time: one batch is being written, two wait behind it.
  const p = ingestProcess(world, { ackMode: 'cumulative', writeConcurrency: 1 });
  await p.engine.start();
  await world.clock.advance(5_000); // five ack waits
  assert.equal([...new Set(sentFor(world, 'working'))].sort((x, y) => x - y), seqs(world), 'every message kept alive');
  assert.equal([...world.broker.deliveries.values()], seqs(world).map(() => 1), 'none delivered twice');
  assert.is(p.count('redeliveries'), 0);
  assert.equal(sentFor(world, 'ack'), []);
  world.history.inserting.open();
  await world.clock.until(() => world.broker.ackFloor === 30, 'acknowledged once written', 5_000);
  assert.is(await world.history.countEvents(A), 30);
  await stop(world, p);
});

test('messages taken but not yet in a closed batch are kept alive too', async () => {
  const world = ingestWorld();
  for (const e of wireEvents('a', 3)) world.broker.publish(e);
  // A batch that stays open longer than the ack wait: its messages wait before any write.
  const p = ingestProcess(world, { ackMode: 'cumulative', batchWaitMs: 2_500 });
  await p.engine.start();
  await world.clock.advance(2_000);
  assert.is(world.history.insertCalls, 0, 'the batch is still open');
  assert.ok(sentFor(world, 'working').length >= 3, 'its messages are kept alive');
  await world.clock.until(() => world.broker.ackFloor === 3, 'acknowledged', 5_000);
  assert.equal([...world.broker.deliveries.values()], [1, 1, 1], 'none delivered twice');
  await stop(world, p);
});

for (const ackMode of ['cumulative', 'explicit'] as AckMode[]) {
  test(`${ackMode}: messages delivered again (their acks lost) change nothing, and are acknowledged again`, async () => {
    const world = ingestWorld();
    const evs = wireEvents('a', 20, 6);
    for (const e of evs) world.broker.publish(e);
    const bad = world.broker.publish('not json');
    world.broker.dropAcks = true;
    const p = ingestProcess(world, { ackMode });
    await p.engine.start();
    await world.clock.until(() => p.count('eventsIngested') === 20, 'written once', 5_000);
    const before = { hot: world.hot.state(A), history: world.history.fold(A) };
    world.broker.dropAcks = false;
    await world.clock.until(() => world.broker.ackFloor === 21, 'acknowledged after the redelivery', 10_000);
    assert.ok([...world.broker.deliveries.values()].every((n) => n >= 2), 'every message delivered again');
    assert.is(p.count('redeliveries'), [...world.broker.deliveries.values()].reduce((a, n) => a + n - 1, 0));
    assert.is(await world.history.countEvents(A), 20, 'history holds each event once');
    assert.equal(world.hot.state(A), before.hot, 'the hot index unchanged');
    assert.equal(world.hot.state(A), world.history.fold(A));
    assert.equal(before.history, world.history.fold(A));
    assert.equal(world.broker.deadLetters.map((d) => d.seq), [bad], 'dead-lettered once');
    await stop(world, p);
  });
}

test('cumulative: one process consumes; a second waits for the lease, then goes on from the ack floor', async () => {
  const world = ingestWorld();
  const evs = wireEvents('a', 30, 10);
  for (const e of evs.slice(0, 10)) world.broker.publish(e);
  const p1 = ingestProcess(world, { ackMode: 'cumulative' });
  await p1.engine.start();
  await world.clock.until(() => world.broker.ackFloor === 10, 'first process acknowledged', 5_000);
  const p2 = ingestProcess(world, { ackMode: 'cumulative' });
  let started = false;
  const starting = p2.engine.start().then(() => (started = true));
  await world.clock.advance(5_000);
  assert.not.ok(started, 'waits while the first holds the lease');
  await stop(world, p1);
  await world.clock.until(() => started, 'second process started', 10_000);
  await starting;
  for (const e of evs.slice(10)) world.broker.publish(e);
  await world.clock.until(() => world.broker.ackFloor === 30, 'second process acknowledged', 5_000);
  assert.is(p2.count('eventsIngested'), 20, 'only what came after');
  assert.is(await world.history.countEvents(A), 30);
  await stop(world, p2);
});

test('explicit: processes share the consumer; one configured cumulative acknowledges explicitly too', async () => {
  const world = ingestWorld();
  const p1 = ingestProcess(world, { ackMode: 'explicit' });
  const p2 = ingestProcess(world, { ackMode: 'cumulative' });
  await p1.engine.start();
  await p2.engine.start();
  assert.is(p2.engine.ackMode(), 'explicit', 'the consumer is shared: its policy rules');
  for (const e of wireEvents('a', 40, 13)) world.broker.publish(e);
  await world.clock.until(() => world.broker.ackFloor === 40, 'all acknowledged', 5_000);
  assert.ok(p1.count('eventsIngested') > 0 && p2.count('eventsIngested') > 0, 'both took messages');
  assert.is(p1.count('eventsIngested') + p2.count('eventsIngested'), 40);
  assert.is(await world.history.countEvents(A), 40);
  assert.equal(world.hot.state(A), world.history.fold(A));
  await stop(world, p1);
  await stop(world, p2);
});

test('a drain writes and acknowledges the open batch, then takes nothing more', async () => {
  const world = ingestWorld();
  const p = ingestProcess(world, { ackMode: 'cumulative', batchWaitMs: 10_000 });
  await p.engine.start();
  for (const e of wireEvents('a', 5)) world.broker.publish(e);
  await world.clock.advance(100);
  assert.is(world.history.insertCalls, 0, 'the batch is open');
  await stop(world, p);
  assert.is(world.broker.ackFloor, 5, 'written and acknowledged by the drain');
  world.broker.publish(wireEvents('b', 1)[0]);
  await world.clock.advance(1_000);
  assert.equal([...world.broker.deliveries.keys()], [1, 2, 3, 4, 5], 'nothing delivered after');
});

test('cumulative: a written batch whose ack waits for a slower, lower batch is kept alive until covered', async () => {
  const world = ingestWorld();
  for (const e of wireEvents('a', 20, 10)) world.broker.publish(e);
  const slow = new Valve();
  slow.close();
  // The batch holding the first event (sequences 1..10) stalls; the next one is written at once.
  const p = ingestProcess(world, {
    ackMode: 'cumulative', writeConcurrency: 2,
    afterErasureCheck: (events) => (events.some((e) => e.id === 'a-0') ? slow.pass() : Promise.resolve()),
  });
  await p.engine.start();
  await world.clock.until(async () => (await world.history.countEvents(A)) === 10, 'the second batch written', 5_000);
  assert.equal(sentFor(world, 'ack'), [], 'nothing may be acknowledged while 1..10 are written');
  await world.clock.advance(5_000);
  assert.equal([...world.broker.deliveries.values()], seqs(world).map(() => 1), 'none delivered twice');
  for (const seq of [11, 20]) assert.ok(sentFor(world, 'working').includes(seq), `${seq} kept alive while its ack waits`);
  slow.open();
  await world.clock.until(() => world.broker.ackFloor === 20, 'acknowledged', 5_000);
  assert.is(p.count('redeliveries'), 0);
  await stop(world, p);
});

test('a bounded stream near its bound is trimmed of acknowledged events only', async () => {
  const world = ingestWorld();
  for (const e of wireEvents('a', 30, 10)) world.broker.publish(e);
  const bytes = () => world.broker.stored.reduce((n, m) => n + m.data.byteLength, 0);
  const maxBytes = Math.floor(bytes() * 1.05); // 95 % full
  world.history.inserting.close();
  const p = ingestProcess(world, { ackMode: 'cumulative', streamMaxBytes: maxBytes });
  await p.engine.start();
  await world.clock.advance(3_000); // three backlog polls
  assert.is(p.count('trimmed'), 0, 'nothing acknowledged: nothing removed');
  assert.is(world.broker.stored.length, 30);
  world.history.inserting.open();
  await world.clock.until(() => p.count('trimmed') > 0, 'trimmed', 5_000);
  assert.ok(bytes() <= maxBytes * 0.76, `down to about three quarters (${bytes()} of ${maxBytes})`);
  assert.ok(world.broker.stored[0]!.seq <= world.broker.ackFloor + 1, 'only below the ack floor');
  await stop(world, p);
});

test.run();
