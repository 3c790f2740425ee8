import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { natsNames } from '../../storage/nats/index.js';
import { eventually, getJson, historyFold, hotState, send, startStack, type Stack } from '../integration/helpers.js';

/**
 * tierstream's history on a ClickHouse cluster of two shards (scripts/clickhouse-cluster.sh,
 * which sets CLICKHOUSE_URL to both nodes and CLICKHOUSE_CLUSTER): users are spread over both
 * shards, a user's events and their duplicates meet on one, every history answer equals the
 * single server's, and a shard that is away makes history answer 503 (never partially) while
 * ingest waits and then catches up without loss. Run by `npm run test:clusters`.
 */
const test = suite('clickhouse cluster');
const root = join(fileURLToPath(new URL('.', import.meta.url)), '../..');
const run = promisify(execFile);
/** The single server the cluster's answers are compared with (scripts/services.sh's). */
const SINGLE_URL = process.env.SINGLE_CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
const CAMPAIGNS = ['k0', 'k1', 'k2'];
const TYPES = ['send', 'open', 'click'] as const;
const clusterEnv = { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT0.5S' };

const eventsOf = (from: number, n: number) =>
  Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return { id: `e-${i}`, type: TYPES[i % 3], userId: `u${(i * 7) % 200}`, campaignId: CAMPAIGNS[i % 3], variantId: `v${i % 2}`, time: 1_700_000_000_000 + i * 1_000 };
  });

const historyCount = async (stack: Stack) =>
  (await Promise.all(CAMPAIGNS.map(async (k) => (await getJson(stack.ts, `/v1/campaigns/${k}`)).body.counts?.history ?? 0))).reduce((a: number, b: number) => a + b, 0);

/** Per node: the distinct users and event ids its shard stores (`events_local`), and its row count. */
async function shards(stack: Stack) {
  const h = stack.ts.history;
  return Promise.all(h.nodes.map(async (node) => {
    const users = await h.selectOn<{ u: string }>(node, `SELECT DISTINCT user_id AS u FROM ${h.db}.events_local`);
    const ids = await h.selectOn<{ id: string }>(node, `SELECT DISTINCT id FROM ${h.db}.events_local`);
    const latestUsers = await h.selectOn<{ u: string }>(node, `SELECT DISTINCT user_id AS u FROM ${h.db}.latest_local`);
    const [rows] = await h.selectOn<{ n: string }>(node, `SELECT count() AS n FROM ${h.db}.events_local`);
    return { url: node.url, users: new Set(users.map((r) => r.u)), ids: new Set(ids.map((r) => r.id)), latestUsers: new Set(latestUsers.map((r) => r.u)), rows: Number(rows!.n) };
  }));
}

/** The history answers the test compares between the cluster and the single server. */
async function historyAnswers(stack: Stack) {
  const out: Record<string, unknown> = {};
  for (const k of CAMPAIGNS) {
    out[`count ${k}`] = (await getJson(stack.ts, `/v1/campaigns/${k}`)).body.counts.history;
    for (const filter of [{ campaign: k, event: 'click' }, { and: [{ campaign: k, event: 'send', variant: 'v0' }, { not: { campaign: k, event: 'open' } }] }]) {
      const c = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter, from: 'history' });
      const a = await send(stack.ts, 'POST', '/v1/retargeting/audience', { filter, from: 'history', limit: 10_000 });
      const ch = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter, from: 'history', userIds: ['u0', 'u7', 'u14', 'u21', 'u99', 'nobody'] });
      out[`${JSON.stringify(filter)}`] = [c.status, c.body.count, a.body.users, ch.body.matched];
    }
  }
  for (const u of ['u0', 'u7', 'u14', 'u21', 'u99']) {
    out[`user ${u}`] = (await getJson(stack.ts, `/v1/users/${u}/interactions?sources=${CAMPAIGNS.map((k) => `campaign:${k}`).join(',')}&from=history`)).body;
  }
  return out;
}

test('users are spread over both shards, duplicates meet on one, and every answer equals the single server\'s', async () => {
  assert.ok(process.env.CLICKHOUSE_CLUSTER && (process.env.CLICKHOUSE_URL ?? '').includes(','), 'run through scripts/clickhouse-cluster.sh exec');
  const cluster = await startStack(undefined, {}, clusterEnv);
  const single = await startStack(undefined, {}, { ...clusterEnv, CLICKHOUSE_URL: SINGLE_URL, CLICKHOUSE_CLUSTER: '' });
  try {
    assert.is(cluster.ts.history.nodes.length, 2);
    assert.is(single.ts.history.cluster, undefined);
    const events = eventsOf(0, 3_000);
    // Redeliveries: a fifth of the events again, under other message ids (no NATS dedup).
    const again = events.filter((_, i) => i % 5 === 0);
    for (const s of [cluster, single]) {
      await s.publish(events);
      await s.publish(again, { msgId: (e) => `again-${(e as { id: string }).id}` });
    }
    for (const s of [cluster, single]) await eventually(async () => (await historyCount(s)) === events.length, 'every event stored once', 60_000);
    const [a, b] = await shards(cluster);
    assert.ok(a!.users.size > 0 && b!.users.size > 0, `users on both shards (${a!.users.size}, ${b!.users.size})`);
    assert.is(a!.users.size + b!.users.size, 200, 'every user on one shard only');
    assert.ok([...a!.users].every((u) => !b!.users.has(u)), 'no user on both shards');
    assert.equal([...a!.latestUsers].sort(), [...a!.users].sort(), 'a shard\'s latest holds its own users');
    assert.ok([...a!.ids].every((id) => !b!.ids.has(id)), 'no event id on both shards: its duplicates met on one');
    assert.is(a!.ids.size + b!.ids.size, events.length);
    assert.ok(a!.rows + b!.rows >= events.length);

    assert.equal(await historyAnswers(cluster), await historyAnswers(single), 'history answers equal');
    // Hot state from ingest, and from a restore that reads the Distributed aggregate.
    for (const k of CAMPAIGNS) {
      const src = { kind: 'campaign', id: k } as const;
      assert.equal(await hotState(cluster.ts, src), await hotState(single.ts, src), `hot ${k} equal`);
      assert.equal(await hotState(cluster.ts, src), await historyFold(cluster.ts, src), `hot ${k} is the fold of its history`);
    }
    await send(cluster.ts, 'POST', '/v1/campaigns/k1/demote');
    await eventually(async () => (await getJson(cluster.ts, '/v1/campaigns/k1')).body.tier === 'expired', 'k1 demoted');
    await send(cluster.ts, 'POST', '/v1/campaigns/k1/restore');
    await eventually(async () => (await getJson(cluster.ts, '/v1/campaigns/k1')).body.tier === 'hot', 'k1 restored', 30_000);
    assert.equal(await hotState(cluster.ts, { kind: 'campaign', id: 'k1' }), await hotState(single.ts, { kind: 'campaign', id: 'k1' }), 'restored from the shards as hot from ingest');

    // Erasure reaches the user's shard, whichever it is, and the aggregate there.
    const gone = [...b!.users][0]!;
    const er = await send(cluster.ts, 'DELETE', `/v1/users/${gone}`);
    await eventually(async () => (await getJson(cluster.ts, `/v1/erasures/${er.body.id}`)).body.status === 'done', 'erasure done', 30_000);
    for (const node of cluster.ts.history.nodes) {
      const [r] = await cluster.ts.history.selectOn<{ n: string }>(node, `SELECT (SELECT count() FROM ${cluster.ns}.events_local WHERE user_id = '${gone}') + (SELECT count() FROM ${cluster.ns}.latest_local WHERE user_id = '${gone}') AS n`);
      assert.is(Number(r!.n), 0, `${gone} erased on ${node.url}`);
    }
  } finally {
    await cluster.stop();
    await single.stop();
  }
});

test('a shard away: history answers 503 (never partially), /readyz names the node, ingest waits and catches up without loss', async () => {
  const stack = await startStack(undefined, {}, clusterEnv);
  const h = stack.ts.history;
  const away = h.nodes[1]!;
  const port = new URL(away.url).port;
  try {
    const n = 3_000;
    const events = eventsOf(0, n);
    await stack.publish(events.slice(0, n / 2));
    await eventually(async () => (await historyCount(stack)) === n / 2, 'first half stored', 60_000);
    const [first, second] = (await shards(stack)).map((s) => [...s.users][0]!);
    await run(join(root, 'scripts/clickhouse-cluster.sh'), ['stop-node', port]);
    try {
      await stack.publish(events.slice(n / 2));
      // Users of both shards: the one whose shard answers is not served partially either.
      for (const u of [first, second]) {
        const r = await getJson(stack.ts, `/v1/users/${u}/interactions?sources=campaign:k0&from=history`);
        assert.is(r.status, 503, `user ${u} from history with a shard away: ${JSON.stringify(r.body)}`);
        assert.is(r.body.error, 'store_unavailable');
      }
      const c = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter: { campaign: 'k0', event: 'send' }, from: 'history' });
      assert.is(c.status, 503, `count from history: ${JSON.stringify(c.body)}`);
      assert.is(c.body.error, 'store_unavailable');
      const ready = await getJson(stack.ts, '/readyz');
      assert.is(ready.status, 503);
      assert.ok(String(ready.body.checks.clickhouse).includes(away.url), `/readyz names ${away.url}: ${JSON.stringify(ready.body)}`);
      // Ingest waits: while the shard is away no event of the second half is acknowledged
      // (each batch holds users of both shards; an insert is acknowledged only once on every
      // shard), nor dead-lettered (asked below).
      await new Promise((r) => setTimeout(r, 8_000));
      const names = natsNames(stack.ns);
      const ci = await (await stack.ts.nc.jetstreamManager()).consumers.info(names.stream, names.consumer);
      assert.ok(ci.ack_floor.stream_seq <= n / 2, `nothing of the second half acknowledged (ack floor ${ci.ack_floor.stream_seq})`);
      assert.ok(ci.num_pending + ci.num_ack_pending >= n / 2, `the second half waits (${ci.num_pending} pending, ${ci.num_ack_pending} unacknowledged)`);
    } finally {
      await run(join(root, 'scripts/clickhouse-cluster.sh'), ['start-node', port]);
    }
    await eventually(async () => (await historyCount(stack).catch(() => 0)) === n, `all ${n} events stored once the shard is back`, 90_000);
    await eventually(async () => (await getJson(stack.ts, '/readyz')).status === 200, '/readyz 200 with the shard back', 30_000);
    assert.equal(await stack.dlq(), [], 'nothing dead-lettered');
    for (const k of CAMPAIGNS) {
      const src = { kind: 'campaign', id: k } as const;
      assert.equal(await hotState(stack.ts, src), await historyFold(stack.ts, src), `hot ${k} is the fold of its history`);
    }
  } finally {
    await run(join(root, 'scripts/clickhouse-cluster.sh'), ['up']).catch(() => undefined);
    await stack.stop();
  }
});

test.run();
