import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type NatsConnection } from 'nats';
import { createProducer, EventRejectedError, PublishError, type Producer } from '../../producer/index.js';
import { natsNames } from '../../storage/nats/names.js';
import { deleteStreams, eventsBound, STREAM_DEFAULTS } from '../../engine/ingest/jetstream.js';
import { eventually, startStack, testConfig, testNamespace } from './helpers.js';

/**
 * The producer library (producer/) against the real NATS: it creates the streams when it starts
 * first, publishes with Nats-Msg-Id, refuses a bad event with the validator's code and sends
 * nothing of that call, holds its window, retries timeouts with the same message id, and what
 * it stored is ingested by an engine started later.
 */
const servers = testConfig('t').natsServers;
const ns = testNamespace('prod');
const names = natsNames(ns);
let nc: NatsConnection;
let producer: Producer;

const event = (i: number, extra: object = {}) => ({
  id: `p-${i}`, type: i % 3 === 0 ? 'open' : 'send', userId: `u${i % 50}`, campaignId: 'A', variantId: 'B', channel: 'email',
  time: Date.now() - 60_000 + i, ...extra,
});
const stored = async () => (await (await nc.jetstreamManager()).streams.info(names.stream)).state.messages;

test.before(async () => {
  nc = await connect({ servers });
  producer = await createProducer({ servers, namespace: ns, window: 16 });
});
test.after(async () => {
  await producer?.close();
  await deleteStreams(await nc.jetstreamManager(), ns);
  await nc.close();
});

test('started first, it creates the streams with the engine settings', async () => {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(names.stream);
  assert.equal(info.config.subjects, [names.subjects]);
  assert.is(info.config.duplicate_window, 120_000 * 1e6);
  assert.is(info.config.max_age, 7 * 24 * 3_600_000 * 1e6);
  // Bounded as the engine bounds it (4 GiB, discard new; in events on servers before 2.10.5).
  const bound = eventsBound(STREAM_DEFAULTS.maxBytes, nc.info?.version);
  assert.equal([info.config.max_bytes, info.config.max_msgs, info.config.discard], [bound.max_bytes, bound.max_msgs, 'new']);
  assert.ok(await jsm.streams.info(names.dlqStream));
});

test('publish resolves once stored; Nats-Msg-Id is the event id; again is duplicate', async () => {
  const outcomes = await producer.publish([event(0), event(1), event(2)]);
  assert.equal(outcomes, ['stored', 'stored', 'stored']);
  const m = await (await nc.jetstreamManager()).streams.getMessage(names.stream, { last_by_subj: `${names.subjectPrefix}open` });
  assert.is(m.header.get('Nats-Msg-Id'), 'p-0');
  assert.is(JSON.parse(new TextDecoder().decode(m.data)).id, 'p-0');
  assert.is(await producer.publish(event(1)), 'duplicate');
  assert.is(await stored(), 3);
});

test('a bad event is refused with the validator code, and nothing of its call is sent', async () => {
  const before = await stored();
  try {
    await producer.publish([event(10), { ...event(11), canvasId: 'C' }, event(12, { time: 'yesterday' })]);
    assert.unreachable('published');
  } catch (err) {
    assert.instance(err, EventRejectedError);
    const e = err as EventRejectedError;
    assert.is(e.code, 'invalid_source');
    assert.equal(e.rejected.map((r) => [r.index, r.id, r.code]), [[1, 'p-11', 'invalid_source'], [2, 'p-12', 'invalid_time']]);
  }
  for (const [bad, code] of [[{ ...event(13), nope: 1 }, 'unknown_field'], [event(14, { time: Date.now() + 3 * 86_400_000 }), 'time_in_future']] as const) {
    await producer.publish(bad).then(() => assert.unreachable('published'), (err: EventRejectedError) => assert.is(err.code, code));
  }
  assert.is(await stored(), before);
});

test('backpressure: never more than the window in flight, across calls', async () => {
  let most = 0;
  let sampling = true;
  const sample = () => { most = Math.max(most, producer.inFlight); if (sampling) setImmediate(sample); };
  sample();
  const calls = [0, 1, 2].map((c) => producer.publish(Array.from({ length: 1_000 }, (_, i) => event(1_000 + c * 1_000 + i))));
  // A call made while the window is full waits its turn, and is not refused.
  most = Math.max(most, producer.inFlight);
  const single = producer.publish(event(9_999));
  await Promise.all([...calls, single]);
  sampling = false;
  assert.ok(most <= 16, `in flight at most 16, saw ${most}`);
  assert.ok(most >= 8, `the window was used: ${most}`);
  assert.is(producer.inFlight, 0);
  assert.is(await stored(), 3 + 3_000 + 1);
});

test('publishes that time out are sent again with the same message id: stored once', async () => {
  const hasty = await createProducer({ servers, namespace: ns, window: 64, timeoutMs: 1, attempts: 100 });
  try {
    const before = await stored();
    const outcomes = await hasty.publish(Array.from({ length: 500 }, (_, i) => event(20_000 + i)));
    assert.is(outcomes.length, 500);
    assert.is(await stored(), before + 500);
  } finally {
    await hasty.close();
  }
});

test('no stream and not allowed to create it: unavailable, after its attempts', async () => {
  const other = await createProducer({ servers, namespace: testNamespace('prodx'), createStreams: false, attempts: 2 });
  try {
    await other.publish(event(1)).then(() => assert.unreachable('published'), (err: PublishError) => {
      assert.instance(err, PublishError);
      assert.is(err.code, 'unavailable');
    });
  } finally {
    await other.close();
  }
});

test('an engine started afterwards ingests what the producer stored', async () => {
  const total = await stored();
  const stack = await startStack(ns);
  try {
    await eventually(async () => {
      const [row] = await stack.ts.history.select<{ n: string }>(`SELECT count() AS n FROM ${stack.ts.history.db}.events FINAL`);
      return Number(row?.n) === total;
    }, `history holds the ${total} events`, 30_000);
  } finally {
    await stack.stop();
  }
});

test.run();
