import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { eventually, getJson, historyFold, hotState, send, startStack, testConfig, type Stack } from './helpers.js';
import { createTierstream } from '../../runtime.js';
import { RedisHotIndex, createRedis } from '../../storage/index.js';
import { keySlot } from '../../storage/redis/slots.js';

/**
 * What only a Redis Cluster can get wrong: work spanning sources whose keys live on different
 * masters. These tests pass on a standalone Redis too; `npm run test:cluster` runs them (with
 * the whole integration suite) against three local masters.
 */
const test = suite<{ stack: Stack }>('redis cluster');

// Campaigns whose hash slots fall in the first, second and third of the slot space, which
// `redis-cli --cluster create` gives to three different masters.
const SPREAD = ['x4', 'x1', 'x3'] as const;

test.before(async (ctx) => {
  ctx.stack = await startStack();
});
test.after(async (ctx) => {
  await ctx.stack?.stop();
});

test('the sources lie in three thirds of the slot space', () => {
  const thirds = SPREAD.map((id) => Math.floor(keySlot(`{campaign:${id}}`) / (16_384 / 3)));
  assert.equal(thirds, [0, 1, 2]);
});

test('a filter naming sources on every master: check, count, audience and user lookups', async ({ stack }) => {
  const ev = (id: string, type: string, userId: string, campaignId: string) => ({ id, type, userId, campaignId, time: Date.UTC(2026, 0, 1) });
  const events = [
    ev('a1', 'send', 'u0', 'x4'), ev('a2', 'send', 'u1', 'x4'),
    ev('b1', 'send', 'u2', 'x1'), ev('b2', 'send', 'u3', 'x1'), ev('b3', 'send', 'u4', 'x1'),
    ev('c1', 'click', 'u3', 'x3'), ev('c2', 'send', 'u5', 'x3'),
  ];
  await stack.publish(events);
  for (const [id, n] of [['x4', 2], ['x1', 3], ['x3', 2]] as const) {
    await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.counts?.history === n, `${id} ingested`);
  }
  await eventually(async () => stack.ts.engine!.inflight() === 0, 'hot writes done');

  // The universe of `not` is u0..u5: not(x3 click) = u0 u1 u2 u4 u5; with x1 send: u2 u4.
  const filter = { or: [{ campaign: 'x4', event: 'send' }, { and: [{ campaign: 'x1', event: 'send' }, { not: { campaign: 'x3', event: 'click' } }] }] };
  const expected = ['u0', 'u1', 'u2', 'u4'];
  const check = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter, userIds: ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6'] });
  assert.is(check.status, 200, JSON.stringify(check.body));
  assert.equal(check.body.matched, expected);
  const count = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter });
  assert.is(count.status, 200, JSON.stringify(count.body));
  assert.is(count.body.count, 4);
  const page1 = await send(stack.ts, 'POST', '/v1/retargeting/audience', { filter, limit: 3 });
  assert.is(page1.status, 200, JSON.stringify(page1.body));
  const page2 = await send(stack.ts, 'POST', '/v1/retargeting/audience', { filter, limit: 3, cursor: page1.body.cursor });
  // Hot pages come in position order (a hash of the id): the walk, not the order, is checked.
  assert.equal([...page1.body.users, ...page2.body.users].sort(), expected);
  assert.is(page2.body.cursor, null);

  const user = await getJson(stack.ts, '/v1/users/u3/interactions?sources=campaign:x4,campaign:x1,campaign:x3');
  assert.is(user.status, 200, JSON.stringify(user.body));
  assert.equal(user.body.sources.map((s: { source: string; latest?: object }) => [s.source, Object.keys(s.latest ?? {})]), [
    ['campaign:x4', []], ['campaign:x1', ['send']], ['campaign:x3', ['click']],
  ]);
});

const src = (id: string) => ({ kind: 'campaign' as const, id });
const rebuilds = async (stack: Stack) => Number((await stack.ts.metrics.hotRebuilds.get()).values[0]?.value ?? 0);

/** Events for the SPREAD sources, and one expired source `old` that must stay without keys. */
async function seed(stack: Stack): Promise<void> {
  await stack.publish(Array.from({ length: 30 }, (_, i) => ({ id: `old-${i}`, type: 'send', userId: `u${i}`, campaignId: 'old', time: 1_000 + i })));
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/old')).body.counts?.history === 30, 'old ingested');
  await send(stack.ts, 'POST', '/v1/campaigns/old/demote');
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/old')).body.tier === 'expired', 'old expired');
}

/** Publishes `n` events over the SPREAD sources, ids from `from`, spread over `ms`. */
async function publishSpread(stack: Stack, prefix: string, n: number, ms = 0): Promise<void> {
  for (let i = 0; i < n; i += 100) {
    await stack.publish(Array.from({ length: Math.min(100, n - i) }, (_, j) => {
      const k = i + j;
      return { id: `${prefix}-${k}`, type: k % 3 ? 'open' : 'send', userId: `u${k % 300}`, campaignId: SPREAD[k % 3], time: 5_000 + ((k * 7919) % 10_000) };
    }));
    if (ms) await new Promise((r) => setTimeout(r, (ms * 100) / n));
  }
}

/** After a loss: rebuilt, ready, and every hot source equal to the fold of its history. */
async function assertHealed(stack: Stack, before: number, what: string): Promise<void> {
  await eventually(async () => (await rebuilds(stack)) > before, `${what}: a rebuild`);
  await eventually(async () => (await stack.ts.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, `${what}: ready again`, 30_000);
  await eventually(async () => stack.ts.engine!.inflight() === 0, `${what}: no batch in flight`);
  for (const id of SPREAD) {
    assert.equal(await hotState(stack.ts, src(id)), await historyFold(stack.ts, src(id)), `${what}: ${id} healed`);
  }
  assert.is(await stack.ts.hot.sourceKeyCount(src('old')), 0, `${what}: the expired source has no keys`);
}

const waitIngested = async (stack: Stack, total: number) => {
  const counts = async () => {
    let n = 0;
    for (const id of SPREAD) n += (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.counts?.history ?? 0;
    return n;
  };
  await eventually(async () => (await counts()) === total, `${total} events in history`, 60_000);
};

test('the loss of any one master is noticed (a sentinel per master) and healed from history', async () => {
  const stack = await startStack();
  try {
    await seed(stack);
    await publishSpread(stack, 'pre', 900);
    await waitIngested(stack, 900);
    // Standalone: the one server is every master; the whole namespace goes at once.
    const masters: (string | undefined)[] = stack.ts.hot.masters().length ? stack.ts.hot.masters() : [undefined];
    let total = 900;
    for (const master of masters) {
      await eventually(async () => (await stack.ts.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 'ready', 30_000);
      const before = await rebuilds(stack);
      await stack.ts.hot.unlinkNamespace({ master }); // what that master restarted empty does
      // Ingest goes on, for hot sources and for the expired one whose gate may just have gone.
      await stack.publish([{ id: `old-late-${master}`, type: 'click', userId: 'late', campaignId: 'old', time: 9_999 }]);
      await publishSpread(stack, `after-${master}`, 300);
      total += 300;
      await waitIngested(stack, total);
      await assertHealed(stack, before, `loss of ${master ?? 'the server'}`);
    }
  } finally {
    await stack.stop();
  }
});

// A real restart of one master without its data, with scripts/redis-cluster.sh, while events
// stream in: only against the local cluster that script runs (it owns the nodes' directories).
const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const clusterNodes = (process.env.REDIS_CLUSTER_NODES ?? '').split(',').filter(Boolean);
const clusterDir = join(process.env.TIERSTREAM_DATA_DIR ?? join(root, '.data'), 'redis-cluster');
const scriptCluster = clusterNodes.length >= 3 && clusterNodes.every((hp) => existsSync(join(clusterDir, hp.split(':')[1]!, 'nodes.conf')));

/** Runs scripts/redis-cluster.sh on the cluster of REDIS_CLUSTER_NODES. */
function clusterScript(...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(root, 'scripts/redis-cluster.sh'), ...args], {
      env: { ...process.env, REDIS_CLUSTER_HOST: clusterNodes[0]!.split(':')[0], REDIS_CLUSTER_PORTS: clusterNodes.map((hp) => hp.split(':')[1]).join(',') },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cluster.sh ${args.join(' ')} exited ${code}`))));
  });
}
const port = (hostPort: string) => hostPort.split(':')[1]!;

(scriptCluster ? test : test.skip)('a master restarted empty during ingest is rebuilt; nothing acknowledged is lost', async () => {
  const stack = await startStack();
  try {
    await seed(stack);
    await publishSpread(stack, 'pre', 600);
    await waitIngested(stack, 600);
    // The master holding x1 (the middle third of the slots) goes down and comes back empty.
    const masters = stack.ts.hot.masters();
    const victim = masters.find((m) => m.endsWith(`:${clusterNodes[1]!.split(':')[1]}`)) ?? masters[1]!;
    const before = await rebuilds(stack);
    const publishing = publishSpread(stack, 'during', 1_500, 6_000);
    await clusterScript('restart-empty', port(victim));
    await publishing;
    await stack.publish([{ id: 'old-late', type: 'click', userId: 'late', campaignId: 'old', time: 9_999 }]);
    await waitIngested(stack, 2_100);
    await assertHealed(stack, before, `restart of ${victim}`);
    assert.is((await getJson(stack.ts, '/v1/campaigns/old')).body.counts.history, 31);
  } finally {
    await stack.stop();
  }
});

(scriptCluster ? test : test.skip)('a master down: /readyz says so, nothing is dead-lettered, all heals when it is back', async () => {
  const stack = await startStack();
  // An API-only process: it sends Redis nothing but lookups and its readiness checks.
  const api = await createTierstream(testConfig(stack.ns, { TIERSTREAM_ROLE: 'api' }), { log: pino({ level: 'silent' }) });
  // A bare client that has sent nothing but pings.
  const bareClient = createRedis({ url: '', clusterNodes });
  const bare = new RedisHotIndex(bareClient, { namespace: stack.ns });
  try {
    await seed(stack);
    await publishSpread(stack, 'pre', 300);
    await waitIngested(stack, 300);
    const victim = stack.ts.hot.masters()[2]!;
    const before = await rebuilds(stack);
    const answers = () => Promise.race([bare.ping(), new Promise<false>((r) => setTimeout(() => r(false), 1_000).unref())]);
    assert.ok(await answers());
    await clusterScript('stop-node', port(victim));
    try {
      await eventually(async () => !(await answers()), 'a bare client: ping says a master is down', 30_000);
      for (const [who, ts] of [['engine', stack.ts], ['api', api]] as const) {
        const down = await eventually(async () => {
          const r = await ts.app.inject({ method: 'GET', url: '/readyz' });
          return r.statusCode === 503 && r.json().checks?.redis ? r.json() : undefined;
        }, `${who}: /readyz 503 naming redis`, 30_000);
        assert.ok(down.checks.redis, JSON.stringify(down));
      }
      // And it stays so while the master is down (any one node answering is not enough).
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const r = await api.app.inject({ method: 'GET', url: '/readyz' });
        assert.is(r.statusCode, 503, `poll ${i}: ${r.body}`);
      }
      await publishSpread(stack, 'down', 300); // history takes them; hot writes wait
    } finally {
      await clusterScript('up');
    }
    await eventually(() => answers(), 'a bare client: ping says all masters answer', 30_000);
    await waitIngested(stack, 600);
    await assertHealed(stack, before, `${victim} down and back`);
    await eventually(async () => (await api.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 'api ready again', 30_000);
    assert.equal(await stack.dlq(), []);
  } finally {
    bareClient.disconnect();
    await api.close();
    await stack.stop();
  }
});

(scriptCluster ? test : test.skip)('namespace cleanup reaches a master restarted since the client last used it', async () => {
  const stack = await startStack();
  const bareClient = createRedis({ url: '', clusterNodes });
  const bare = new RedisHotIndex(bareClient, { namespace: stack.ns });
  try {
    assert.ok(await bare.ping()); // connected to every master
    const victim = bare.masters()[1]!;
    await clusterScript('restart-empty', port(victim));
    // Keys on every master again, the restarted one included (x1 lives in the middle third).
    await publishSpread(stack, 'after', 300);
    await waitIngested(stack, 300);
    await eventually(async () => stack.ts.engine!.inflight() === 0, 'hot writes done');
    await stack.ts.tiers.stop(); // no sentinel check writes keys back meanwhile
    await bare.unlinkNamespace();
    for (const id of SPREAD) assert.is(await stack.ts.hot.sourceKeyCount(src(id)), 0, `${id} has no keys left`);
  } finally {
    bareClient.disconnect();
    await stack.stop();
  }
});

test.run();
