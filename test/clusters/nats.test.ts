import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { bucketNames, kvStream, natsNames, noticeNames } from '../../storage/nats/index.js';
import { KvDocStore } from '../../storage/index.js';
import { eventually, getJson, startStack } from '../integration/helpers.js';

/**
 * tierstream on a three-node NATS cluster (scripts/nats-cluster.sh, which sets NATS_URL and
 * TIERSTREAM_STREAM_REPLICAS=3): every stream and bucket replicated, and the loss of one node
 * during ingest loses nothing. Run by `npm run test:clusters`.
 */
const test = suite('nats cluster');
const root = join(fileURLToPath(new URL('.', import.meta.url)), '../..');
const run = promisify(execFile);
const urls = (process.env.NATS_URL ?? '').split(',');

test('streams and buckets have 3 replicas; a node stopped during ingest loses nothing', async () => {
  assert.ok(urls.length >= 3 && process.env.TIERSTREAM_STREAM_REPLICAS === '3', 'run through scripts/nats-cluster.sh exec');
  const stack = await startStack(undefined, { ackWaitMs: 5_000 }, { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT0.5S' });
  const names = natsNames(stack.ns);
  try {
    const jsm = await stack.ts.nc.jetstreamManager();
    const buckets = bucketNames(stack.ns);
    for (const s of [names.stream, names.dlqStream, noticeNames(stack.ns).stream, ...[buckets.sources, buckets.filters, buckets.ingest, buckets.erasures, buckets.sourceIds].map(kvStream)]) {
      const info = await jsm.streams.info(s);
      assert.is(info.config.num_replicas, 3, `${s} replicas`);
    }
    const n = 6_000;
    const evs = Array.from({ length: n }, (_, i) => ({ id: `c-${i}`, type: 'send', userId: `u${i % 500}`, campaignId: `k${i % 4}`, time: 1_000 + i }));
    const first = stack.publish(evs.slice(0, n / 2));
    await first;
    // Stop the node this process is connected to, while the second half is published.
    const port = stack.ts.nc.info?.port ?? Number(urls[0]!.split(':').pop());
    const second = (async () => {
      for (let i = n / 2; i < n; i += 500) {
        for (;;) {
          try {
            await stack.publish(evs.slice(i, i + 500));
            break;
          } catch { await new Promise((r) => setTimeout(r, 500)); }
        }
      }
    })();
    await run(join(root, 'scripts/nats-cluster.sh'), ['stop-node', String(port)]);
    await second;
    const counted = async () => (await Promise.all([0, 1, 2, 3].map(async (k) => (await getJson(stack.ts, `/v1/campaigns/k${k}`)).body.counts?.history ?? 0))).reduce((a, b) => a + b, 0);
    await eventually(async () => (await counted()) === n, `all ${n} events stored with node ${port} down`, 60_000);
    await run(join(root, 'scripts/nats-cluster.sh'), ['start-node', String(port)]);
    const ready = await eventually(async () => (await getJson(stack.ts, '/readyz')).status === 200, '/readyz 200 with the node back', 60_000);
    assert.ok(ready);
    assert.is(await counted(), n);
  } finally {
    await run(join(root, 'scripts/nats-cluster.sh'), ['up']).catch(() => undefined);
    await stack.stop();
  }
});

test('a KV read-modify-write on 3 replicas sees the value this process last wrote (reads from the leader)', async () => {
  const nc = await connect({ servers: urls });
  const bucket = `rmw_${Date.now().toString(36)}`;
  const store = await KvDocStore.open<{ n: number }>(nc.jetstream(), bucket, 3);
  try {
    let stale = 0;
    for (let i = 0; i < 300; i++) {
      await store.update('k', (d) => {
        if ((d?.n ?? 0) < i) stale++;
        return { n: (d?.n ?? 0) + 1 };
      });
    }
    // With direct gets (any replica answers) 8 of 300 saw an older value on this cluster.
    assert.is(stale, 0, `${stale} of 300 updates read a value older than the last write`);
    assert.is((await store.get('k'))?.doc.n, 300);
  } finally {
    await store.destroy();
    await nc.close();
  }
});

test.run();
