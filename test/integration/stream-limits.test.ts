import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, DiscardPolicy, RetentionPolicy, StorageType, type JsMsg, type NatsConnection } from 'nats';
import { createProducer, PublishError } from '../../producer/index.js';
import { natsNames } from '../../storage/nats/names.js';
import { deleteStreams, ensureStreams, eventsBound, STREAM_DEFAULTS, trimIngested } from '../../engine/ingest/jetstream.js';
import { eventually, getJson, startStack, testConfig, testNamespace, TEST_ENGINE } from './helpers.js';

/**
 * The events stream's bounds (docs/producing.md, "Events stream bounds"): max_bytes with discard new, so
 * at the limit producers are refused (the library's `stream_full`, HTTP 503 `stream_full`)
 * and nothing stored is dropped; /readyz says so, and says when the backlog passes
 * TIERSTREAM_BACKLOG_MAX; once ingest caught up, it trims events it acknowledged and the
 * stream takes publishes again; an existing unbounded stream is brought to the bound at start.
 */
const servers = testConfig('t').natsServers;
let nc: NatsConnection;
test.before(async () => {
  nc = await connect({ servers });
});
test.after(async () => {
  await nc.close();
});

const event = (i: number) => ({
  id: `sl-${i}`, type: 'send', userId: `u${i % 20}`, campaignId: 'A', variantId: 'B', channel: 'email', time: Date.now() - 60_000 + i,
});

test('an existing unbounded events stream is brought to max_bytes with discard new at start', async () => {
  const ns = testNamespace('slup');
  const names = natsNames(ns);
  const jsm = await nc.jetstreamManager();
  try {
    // As streams were made before the bound: no max_bytes, discard old.
    await jsm.streams.add({ name: names.stream, subjects: [names.subjects], storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old });
    await ensureStreams(jsm, { namespace: ns, dedupWindowMs: STREAM_DEFAULTS.dedupWindowMs, maxAgeMs: STREAM_DEFAULTS.maxAgeMs, maxBytes: 2 * 1_048_576, ackWaitMs: 30_000, maxAckPending: 1_000 });
    const info = await jsm.streams.info(names.stream);
    const bound = eventsBound(2 * 1_048_576, nc.info?.version);
    assert.is(info.config.max_bytes, bound.max_bytes);
    assert.is(info.config.max_msgs, bound.max_msgs);
    assert.ok(bound.max_bytes > 0 || bound.max_msgs > 0, 'bounded');
    assert.is(info.config.discard, DiscardPolicy.New);
    assert.is(info.config.max_age, STREAM_DEFAULTS.maxAgeMs * 1e6);
  } finally {
    await deleteStreams(jsm, ns);
  }
});

test('trimming a full stream removes only messages below the consumer ack floor', async () => {
  const ns = testNamespace('sltrim');
  const names = natsNames(ns);
  const jsm = await nc.jetstreamManager();
  const producer = await createProducer({ servers, namespace: ns, window: 8, createStreams: false });
  try {
    await ensureStreams(jsm, { namespace: ns, dedupWindowMs: STREAM_DEFAULTS.dedupWindowMs, maxAgeMs: STREAM_DEFAULTS.maxAgeMs, maxBytes: 32 * 1024, ackWaitMs: 30_000, maxAckPending: 1_000 });
    let stored = 0;
    for (let i = 0; ; i++) {
      try {
        await producer.publish(event(i));
        stored++;
      } catch (err) {
        assert.is((err as PublishError).code, 'stream_full');
        break;
      }
    }
    // Full, nothing acknowledged: nothing may go.
    assert.is(await trimIngested(jsm, ns), 0);
    // Ingest acknowledged the first 10 (the others not even delivered).
    const consumer = await nc.jetstream().consumers.get(names.stream, names.consumer);
    const msgs = await consumer.fetch({ max_messages: 10, expires: 2_000 });
    let n = 0;
    for await (const m of msgs as AsyncIterable<JsMsg>) {
      await m.ackAck();
      if (++n === 10) break;
    }
    assert.is(await trimIngested(jsm, ns), 10);
    const state = (await jsm.streams.info(names.stream)).state;
    assert.equal([state.first_seq, state.messages], [11, stored - 10]);
    assert.is(await producer.publish(event(100_000)), 'stored');
  } finally {
    await producer.close();
    await deleteStreams(jsm, ns);
  }
});

test('at the limit: producers are refused (library and HTTP), nothing stored is lost, /readyz says why; after ingest, room again', async () => {
  const ns = testNamespace('slfull');
  const names = natsNames(ns);
  const maxBytes = 32 * 1024;
  const env = { TIER_EXPIRE_AFTER: 'PT1H', TIERSTREAM_BACKLOG_MAX: '40' };
  let stack = await startStack(ns, { streamMaxBytes: maxBytes }, env);
  const jsm = await nc.jetstreamManager();
  let producer: Awaited<ReturnType<typeof createProducer>> | undefined;
  try {
    const bound = eventsBound(maxBytes, nc.info?.version);
    assert.is((await jsm.streams.info(names.stream)).config.max_bytes, bound.max_bytes);
    assert.is((await jsm.streams.info(names.stream)).config.max_msgs, bound.max_msgs);
    assert.is((await getJson(stack.ts, '/readyz')).status, 200);
    // Ingest stops: every event published from now on waits in the stream.
    await stack.ts.engine!.drain();
    producer = await createProducer({ servers, namespace: ns, window: 8 });
    let i = 0;
    let storedCount = 0;
    let refused: unknown;
    while (!refused && i < 10_000) {
      try {
        await producer.publish(event(i++));
        storedCount++;
        if (storedCount === 45) {
          // Past TIERSTREAM_BACKLOG_MAX (40) and not full yet.
          const r = await getJson(stack.ts, '/readyz');
          assert.is(r.status, 503);
          assert.is(r.body.error, 'not_ready');
          assert.match(r.body.checks.ingest_backlog, /^45 events not ingested yet, more than 40/);
        }
      } catch (err) {
        refused = err;
      }
    }
    assert.instance(refused, PublishError);
    assert.is((refused as PublishError).code, 'stream_full');
    assert.ok(storedCount > 45, `stored ${storedCount} before the limit`);
    // Nothing stored was dropped to make room: every acknowledged event is there, from the first.
    const state = (await jsm.streams.info(names.stream)).state;
    console.log(`  nats-server ${nc.info?.version}: ${storedCount} events stored at the limit, ${Math.round(state.bytes / state.messages)} bytes each in the stream`);
    assert.is(state.messages, storedCount);
    assert.is(state.first_seq, 1);
    assert.is(JSON.parse(new TextDecoder().decode((await jsm.streams.getMessage(names.stream, { seq: 1 })).data)).id, 'sl-0');

    const ready = await getJson(stack.ts, '/readyz');
    assert.is(ready.status, 503);
    assert.match(ready.body.checks.ingest_backlog, /^events stream full/);

    const res = await stack.ts.app.inject({ method: 'POST', url: '/v1/events', payload: { events: [event(i + 1)] } });
    assert.is(res.statusCode, 503);
    assert.is(res.json().error, 'stream_full', res.body);
    assert.ok(res.headers['retry-after']);
    await stack.ts.close(); // not stop(): that would delete the namespace's streams

    // Ingest again: it takes the backlog, then trims what it acknowledged; publishes fit again.
    stack = await startStack(ns, { streamMaxBytes: maxBytes, lagPollMs: 200 }, env);
    await eventually(async () => {
      const [row] = await stack.ts.history.select<{ n: string }>(`SELECT count() AS n FROM ${stack.ts.history.db}.events FINAL`);
      return Number(row?.n) === storedCount;
    }, `history holds the ${storedCount} events`);
    await eventually(async () => (await jsm.streams.info(names.stream)).state.first_seq > 1, 'ingested events trimmed');
    assert.is(await producer.publish(event(i + 2)), 'stored');
    assert.is((await getJson(stack.ts, '/readyz')).status, 200);
  } finally {
    await producer?.close();
    await stack.stop();
  }
});

test.run();
