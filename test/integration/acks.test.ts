import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AckPolicy } from 'nats';
import { pino } from 'pino';
import { consumerAckPolicy, ENGINE_DEFAULTS, ensureStreams } from '../../engine/ingest/index.js';
import { natsNames } from '../../storage/nats/index.js';
import { createTierstream } from '../../runtime.js';
import { eventually, getJson, startStack, testConfig, testNamespace, TEST_ENGINE } from './helpers.js';

/**
 * How ingest processes share the durable consumer (engine/ingest/acks.ts, engine/ingest/ack-lease.ts):
 * cumulative acknowledgement needs the consumer to one process, explicit shares it.
 */
const test = suite('acks');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const evs = (prefix: string, n: number, campaignId: string) =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type: 'send', userId: `u${i % 40}`, campaignId, time: 1_000 + i }));

test('an explicit consumer left by an earlier version is switched to cumulative without losing its position', async () => {
  const ns = testNamespace('ack');
  const a = await startStack(ns, { ackMode: 'explicit' });
  let b: Awaited<ReturnType<typeof startStack>> | undefined;
  try {
    await a.publish(evs('old', 200, 'sw'));
    await eventually(async () => (await getJson(a.ts, '/v1/campaigns/sw')).body.counts?.history === 200, 'ingested explicitly');
    assert.is(await consumerAckPolicy(await a.ts.nc.jetstreamManager(), ns), AckPolicy.Explicit);
    await a.ts.engine!.drain();
    b = await startStack(ns);
    assert.is(b.ts.engine!.ackMode(), 'cumulative');
    const jsm = await b.ts.nc.jetstreamManager();
    assert.is(await consumerAckPolicy(jsm, ns), AckPolicy.All);
    await b.publish(evs('new', 300, 'sw'));
    await eventually(async () => (await getJson(b!.ts, '/v1/campaigns/sw')).body.counts?.history === 500, 'ingested cumulatively');
    const info = await jsm.consumers.info(natsNames(ns).stream, natsNames(ns).consumer);
    // Nothing before the switch was delivered again (it had all been acknowledged).
    assert.is(info.delivered.stream_seq, 500);
    await eventually(async () => (await jsm.consumers.info(natsNames(ns).stream, natsNames(ns).consumer)).num_ack_pending === 0, 'every message covered by an ack');
  } finally {
    await a.ts.close().catch(() => undefined);
    await b?.stop();
  }
});

test('a second cumulative process waits for the lease, and takes over when the first drains', async () => {
  const a = await startStack();
  const b = await createTierstream(testConfig(a.ns), { engine: TEST_ENGINE, log: pino({ level: 'silent' }) });
  try {
    let started = false;
    const starting = b.engine!.start().then(() => (started = true));
    await a.publish(evs('first', 100, 'lease'));
    await eventually(async () => (await getJson(a.ts, '/v1/campaigns/lease')).body.counts?.history === 100, 'ingested by the first');
    await sleep(500);
    assert.not.ok(started, 'the second process does not consume beside a cumulative one');
    await a.ts.engine!.drain(); // releases the lease
    await starting;
    assert.is(b.engine!.ackMode(), 'cumulative');
    await a.publish(evs('second', 100, 'lease'));
    await eventually(async () => (await getJson(b, '/v1/campaigns/lease')).body.counts?.history === 200, 'ingested by the second');
  } finally {
    await b.engine!.drain();
    await b.close();
    await a.stop();
  }
});

test('explicit processes share the consumer; one that wants cumulative joins them acknowledging each message', async () => {
  const a = await startStack(undefined, { ackMode: 'explicit' });
  const b = await createTierstream(testConfig(a.ns), { engine: TEST_ENGINE, log: pino({ level: 'silent' }) });
  try {
    await b.engine!.start();
    assert.is(b.engine!.ackMode(), 'explicit');
    assert.is(await consumerAckPolicy(await a.ts.nc.jetstreamManager(), a.ns), AckPolicy.Explicit);
    await a.publish(evs('shared', 2_000, 'share'));
    await eventually(async () => (await getJson(a.ts, '/v1/campaigns/share')).body.counts?.history === 2_000, 'ingested by both');
  } finally {
    await b.engine!.drain();
    await b.close();
    await a.stop();
  }
});

test('ensureStreams leaves an existing consumer its policy', async () => {
  const ns = testNamespace('ack');
  const stack = await startStack(ns);
  try {
    const jsm = await stack.ts.nc.jetstreamManager();
    await ensureStreams(jsm, { namespace: ns, dedupWindowMs: ENGINE_DEFAULTS.dedupWindowMs, maxAgeMs: ENGINE_DEFAULTS.streamMaxAgeMs, ackWaitMs: TEST_ENGINE.ackWaitMs!, maxAckPending: ENGINE_DEFAULTS.maxInflight });
    assert.is(await consumerAckPolicy(jsm, ns), AckPolicy.All);
  } finally {
    await stack.stop();
  }
});

test.run();
