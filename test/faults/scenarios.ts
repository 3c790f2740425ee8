/**
 * The fault scenarios of docs/reliability.md. Each runs against real services on loopback,
 * is bounded in time, ends with the checker and returns one row of the table. `short` is
 * the version `npm test` runs; `full` the one `npm run test:faults` runs.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { natsNames } from '../../storage/nats/index.js';
import { sourceName } from '../../core/index.js';
import { rng } from '../../scripts/generate.js';
import { send, getJson, startStack, type Stack } from '../integration/helpers.js';
import { runLoad } from '../../bench/http-load.js';
import {
  check, configOf, drained, refOf, EngineProcess, eventually, events, expect, FaultProxy, Ledger, PrivateNats, PrivateRedis, produce, produceWithFault,
  record, root, scenario, sleep, teardown, viewOf, type Verdict,
} from './harness.js';

export type Size = 'short' | 'full';

const execFileAsync = promisify(execFile);
const nsFor = (tag: string) => `f${tag}_${randomBytes(4).toString('hex')}`;
const CHILD = join(root, 'test/faults/engine-child.ts');

/**
 * A fresh namespace and a NATS connection for producing; afterwards, whatever happened,
 * every engine process still running is killed and the namespace removed from the servers
 * (`env`: the servers the scenario's engines use).
 */
async function withNamespace<T>(tag: string, env: NodeJS.ProcessEnv, fn: (ns: string, nc: NatsConnection) => Promise<T>, heal?: () => Promise<void>): Promise<T> {
  const ns = nsFor(tag);
  const nc = await connect({ servers: configOf(ns, env).natsServers, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  try {
    return await fn(ns, nc);
  } finally {
    await EngineProcess.killAll();
    await heal?.().catch(() => undefined); // a scenario that failed mid-fault: servers back for the teardown
    await nc.close().catch(() => undefined);
    const view = await viewOf(ns, env).catch(() => undefined);
    if (view) await teardown(view, ns);
  }
}

/** Waits for the consumer to drain, then runs the checker over the namespace. */
async function finish(v: Verdict, ns: string, nc: NatsConnection, ledger: Ledger, env: NodeJS.ProcessEnv = {}): Promise<void> {
  await drained(nc, ns);
  const view = await viewOf(ns, env);
  try {
    record(v, await check(view, ns, ledger));
  } finally {
    await view.close();
  }
}

/**
 * withNamespace with the engines' ClickHouse behind a FaultProxy (`env` gets its URL); the
 * proxy passes traffic again before the teardown and is closed afterwards.
 */
async function withClickHouseProxy(
  tag: string,
  extraEnv: NodeJS.ProcessEnv,
  fn: (ns: string, nc: NatsConnection, proxy: FaultProxy, env: NodeJS.ProcessEnv) => Promise<void>,
): Promise<void> {
  const url = new URL(configOf('x').clickhouseUrl);
  const proxy = new FaultProxy(url.hostname, Number(url.port || 8123));
  await proxy.start();
  const env = { CLICKHOUSE_URL: `http://127.0.0.1:${proxy.port}`, ...extraEnv };
  try {
    await withNamespace(tag, env, (ns, nc) => fn(ns, nc, proxy, env), async () => proxy.pass());
  } finally {
    await proxy.close();
  }
}

/** 1. SIGKILL the engine at random moments while events stream in; restart it each time. */
export const sigkillLoop = (size: Size, env: NodeJS.ProcessEnv = {}) =>
  scenario(`1 SIGKILL x${size === 'full' ? 12 : 3} during ingest${env.REDIS_CLUSTER_NODES ? ' (Redis Cluster)' : ''}`, async (v) => {
    const n = size === 'full' ? 100_000 : 8_000;
    const kills = size === 'full' ? 12 : 3;
    await withNamespace('kill', env, async (ns, nc) => {
      const ledger = new Ledger();
      const engine = new EngineProcess(ns, env);
      await engine.start();
      const rand = rng(7);
      // Paced so that the stream lasts about as long as the kills (each kill + restart ~3 s).
      const producing = produce(nc, ns, events(n, `${ns}k`), ledger, { window: 500, paceMs: size === 'full' ? 250 : 400 });
      let streaming = true;
      void producing.finally(() => (streaming = false));
      let during = 0;
      let busy = 0;
      const jsm = await nc.jetstreamManager();
      const names = natsNames(ns);
      for (let k = 0; k < kills; k++) {
        await sleep(200 + Math.floor(rand() * (size === 'full' ? 1_500 : 500)));
        if (streaming) during++;
        // While events stream, aim the kill at a moment with messages delivered and not yet
        // acknowledged (polled for up to 1 s), and count the kills that landed so.
        const aimUntil = Date.now() + (streaming ? 1_000 : 0);
        for (;;) {
          const pending = (await jsm.consumers.info(names.stream, names.consumer)).num_ack_pending;
          if (pending > 0) busy++;
          if (pending > 0 || Date.now() >= aimUntil) break;
          await sleep(20);
        }
        await engine.kill('SIGKILL');
        await engine.start();
      }
      await producing;
      v.notes.push(`${kills} kills, ${during} of them while the producer was still publishing, ${busy} with messages in flight`);
      expect(v, busy >= 1, `some kills landed with messages in flight (${busy})`);
      const want = size === 'full' ? 10 : 1;
      expect(v, during >= want, `at least ${want} kills while events stream in (${during})`);
      await finish(v, ns, nc, ledger, env);
      await engine.kill('SIGTERM');
    });
  });

/** 2. Kill between the history write and the hot write, and between the hot write and the ack. */
export const killBetweenWrites = (size: Size, point: 'after-history' | 'after-hot') =>
  scenario(`2 kill ${point === 'after-history' ? 'between history and hot write' : 'between hot write and ack'}`, async (v) => {
    const n = size === 'full' ? 20_000 : 4_000;
    await withNamespace('hook', {}, async (ns, nc) => {
      const ledger = new Ledger();
      const hooked = new EngineProcess(ns, {}, CHILD);
      await hooked.start({ TIERSTREAM_FAULT: `${point}:2` });
      const producing = produce(nc, ns, events(n, `${ns}h`), ledger);
      await hooked.exited(); // killed itself at the hook
      expect(v, hooked.child.signalCode === 'SIGKILL', `the hooked engine died by its hook (${hooked.child.signalCode})`);
      const engine = new EngineProcess(ns);
      await engine.start();
      await producing;
      await finish(v, ns, nc, ledger);
      v.notes.push(`redeliveries after restart ${await engine.metric('tierstream_redeliveries_total')}`);
      await engine.kill('SIGTERM');
    });
  });

/** 3. The producer republishes with the same Nats-Msg-Id, inside and outside the dedup window. */
export const republish = (size: Size) =>
  scenario('3 republish same Nats-Msg-Id (in/out of dedup window)', async (v) => {
    const n = size === 'full' ? 20_000 : 3_000;
    // A 2 s duplicate window so that "outside the window" comes quickly.
    const stack: Stack = await startStack(nsFor('dup'), { dedupWindowMs: 2_000 });
    const nc = stack.ts.nc;
    try {
      const ledger = new Ledger();
      const evs = events(n, `${stack.ns}d`);
      // Each slice published twice in a row: the second copy lands inside the 2 s window.
      for (let i = 0; i < n; i += 250) {
        await produce(nc, stack.ns, evs.slice(i, i + 250), ledger);
        await produce(nc, stack.ns, evs.slice(i, i + 250), ledger);
      }
      const inside = ledger.duplicateAcks;
      expect(v, inside === n, `inside the window every republish is acked as a duplicate (${inside}/${n})`);
      await drained(nc, stack.ns);
      await sleep(3_500); // the 2 s window has passed (the server purges it every second or so)
      await produce(nc, stack.ns, evs, ledger); // outside: stored and delivered again
      const outside = ledger.duplicateAcks - inside;
      v.notes.push(`inside window: ${inside} duplicate acks; outside: ${n - outside} redelivered to the engine`);
      const jsm = await nc.jetstreamManager();
      const stored = (await jsm.streams.info(natsNames(stack.ns).stream)).state.messages;
      expect(v, stored === 2 * n, `the stream holds each event twice: once first, once republished outside the window (${stored}/${2 * n})`);
      await drained(nc, stack.ns);
      await eventually(async () => stack.ts.engine!.inflight() === 0, 'no batch in flight');
      record(v, await check(stack.ts, stack.ns, ledger));
    } finally {
      await stack.stop();
    }
  });

/** 4. ClickHouse unreachable during ingest: no ack without durability, bounded memory, catch-up, /readyz. */
export const clickhouseDown = (size: Size) =>
  scenario(`4 ClickHouse away ${size === 'full' ? 30 : 4} s during ingest`, async (v) => {
    const n = size === 'full' ? 60_000 : 6_000;
    await withClickHouseProxy('chd', {}, async (ns, nc, proxy, env) => {
      const ledger = new Ledger();
      const engine = new EngineProcess(ns, env);
      await engine.start();
      const producing = produce(nc, ns, events(n, `${ns}c`), ledger, { window: 500, paceMs: 20 });
      await eventually(async () => (await engine.metric('tierstream_events_ingested_total')) > 0, 'ingest under way');
      proxy.down();
      await sleep(1_000); // writes that were already inside ClickHouse settle
      const ingestedAtStart = await engine.metric('tierstream_events_ingested_total');
      const ready = await eventually(async () => {
        const r = await engine.http('GET', '/readyz');
        return r.status === 503 ? r : undefined;
      }, '/readyz 503 while ClickHouse is away', 10_000);
      expect(v, ready.body?.checks?.clickhouse !== 'ok' && ready.body?.checks?.nats === 'ok', `/readyz blames ClickHouse, not NATS: ${JSON.stringify(ready.body)}`);
      let peakRss = 0;
      let peakInflight = 0;
      const until = Date.now() + (size === 'full' ? 29_000 : 3_000);
      while (Date.now() < until) {
        peakRss = Math.max(peakRss, await engine.metric('tierstream_process_resident_memory_bytes'));
        peakInflight = Math.max(peakInflight, await engine.metric('tierstream_inflight_messages'));
        await sleep(250);
      }
      const ingestedAtEnd = await engine.metric('tierstream_events_ingested_total');
      expect(v, ingestedAtEnd === ingestedAtStart, `no ack while ClickHouse is away (${ingestedAtEnd - ingestedAtStart} acked)`);
      expect(v, peakInflight <= 20_000, `in-flight messages bounded by maxInflight (peak ${peakInflight})`);
      v.notes.push(`peak RSS while away ${(peakRss / 2 ** 20).toFixed(0)} MiB, peak in-flight ${peakInflight}, /readyz ${JSON.stringify(ready.body)}`);
      proxy.pass();
      await eventually(async () => (await engine.http('GET', '/readyz')).status === 200, '/readyz 200 after ClickHouse returns', 30_000);
      await producing;
      await finish(v, ns, nc, ledger);
      await engine.kill('SIGTERM');
    });
  });

/** 5. ClickHouse slow (seconds per insert): no redelivery storm, correct end state. */
export const clickhouseSlow = (size: Size) =>
  scenario('5 ClickHouse slow (each chunk +1.5 s)', async (v) => {
    const n = size === 'full' ? 20_000 : 3_000;
    // Ack wait 3 s: an insert of several chunks at 1.5 s each outlasts it.
    await withClickHouseProxy('chs', { TIERSTREAM_ACK_WAIT_MS: '3000' }, async (ns, nc, proxy, env) => {
      const ledger = new Ledger();
      const engine = new EngineProcess(ns, env);
      await engine.start();
      proxy.slow(1_500);
      const t = performance.now();
      await produce(nc, ns, events(n, `${ns}s`), ledger);
      await drained(nc, ns, 180_000);
      v.notes.push(`drained in ${((performance.now() - t) / 1000).toFixed(1)} s through the slow proxy`);
      const redeliveries = await engine.metric('tierstream_redeliveries_total');
      expect(v, redeliveries === 0, `no redelivery while writes are slow (${redeliveries})`);
      v.notes.push(`redeliveries ${redeliveries}`);
      proxy.pass();
      await finish(v, ns, nc, ledger);
      await engine.kill('SIGTERM');
    });
  });

/** 6. NATS restarted during ingest: the engine reconnects without limit and the durable consumer resumes. */
export const natsRestart = (size: Size) =>
  scenario('6 NATS restarted during ingest', async (v) => {
    const n = size === 'full' ? 40_000 : 5_000;
    const nats = new PrivateNats();
    await nats.start();
    const env = { NATS_URL: nats.url };
    try {
      await withNamespace('nats', env, async (ns, nc) => {
        const ledger = new Ledger();
        const engine = new EngineProcess(ns, env);
        await engine.start();
        const { atFault, stillFlowing } = await produceWithFault(nc, ns, events(n, `${ns}n`), ledger,
          () => engine.metric('tierstream_events_ingested_total'), async () => {
          await nats.stop('SIGKILL');
          const ready = await eventually(async () => {
            const r = await engine.http('GET', '/readyz');
            return r.status === 503 ? r : undefined;
          }, '/readyz 503 while NATS is away', 10_000);
          expect(v, ready.body?.checks?.nats !== 'ok', `/readyz blames NATS: ${JSON.stringify(ready.body)}`);
          await sleep(size === 'full' ? 5_000 : 1_000);
          await nats.start();
        });
        expect(v, stillFlowing, `NATS went away while events were still being published (${atFault}/${n} ingested at the fault)`);
        await eventually(async () => (await engine.http('GET', '/readyz')).status === 200, '/readyz 200 after NATS returns', 30_000);
        await finish(v, ns, nc, ledger, env);
        expect(v, engine.alive, 'the engine lived through the restart');
        await engine.kill('SIGTERM');
      }, async () => (nats.running ? undefined : nats.start()));
    } finally {
      await nats.destroy();
    }
  });

/** 7. Redis restarted empty during ingest, and during a restore: rebuilt, nothing lost. */
export const redisRestart = (size: Size, during: 'ingest' | 'restore', clusterEnv: NodeJS.ProcessEnv = {}) =>
  scenario(`7 Redis restarted empty during ${during}${clusterEnv.REDIS_CLUSTER_NODES ? ' (Redis Cluster: every master in turn)' : ''}`, async (v) => {
    const n = size === 'full' ? 40_000 : 5_000;
    const cluster = clusterEnv.REDIS_CLUSTER_NODES?.split(',').map((hp) => hp.split(':')[1]!);
    const redis = new PrivateRedis();
    if (!cluster) await redis.start();
    const env = cluster ? clusterEnv : { REDIS_URL: redis.url, TIERSTREAM_REQUEST_TIMEOUT_MS: '1500' };
    // Standalone: a private server killed and started again without data. Cluster: each
    // master in turn restarted empty (it keeps its slots), by scripts/redis-cluster.sh.
    const restartEmpty = async (engine: EngineProcess) => {
      if (!cluster) {
        await redis.stop();
        // While it is away, /readyz says so and names it (every check has a 1 s timeout).
        const r = await eventually(async () => {
          const res = await engine.http('GET', '/readyz');
          return res.status === 503 ? res : undefined;
        }, '/readyz 503 while Redis is away', 10_000);
        expect(v, JSON.stringify(r.body).includes('"redis":"'), `/readyz names Redis: ${JSON.stringify(r.body)}`);
        expect(v, !JSON.stringify(r.body).includes('"redis":"ok"'), `/readyz does not call Redis ok: ${JSON.stringify(r.body)}`);
        // A send-time lookup meanwhile gets a prompt 503 with Retry-After, not a hang.
        const t = performance.now();
        const res = await fetch(`http://127.0.0.1:${engine.port}/v1/retargeting/check`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ filter: { campaign: 'c0', event: 'send' }, userIds: ['u1'] }),
          signal: AbortSignal.timeout(10_000),
        }).catch((err: Error) => new Response(JSON.stringify({ error: `no answer: ${err.message}` }), { status: 599 }));
        const body = (await res.json()) as { error?: string };
        const ms = Math.round(performance.now() - t);
        expect(v, res.status === 503 && body.error === 'store_unavailable' && res.headers.get('retry-after') === '1',
          `a lookup while Redis is away: 503 store_unavailable with Retry-After (${res.status} ${JSON.stringify(body)})`);
        v.notes.push(`lookup while Redis away answered ${res.status} ${body.error} in ${ms} ms (deadline 1500 ms)`);
        await redis.start();
        return;
      }
      for (const port of cluster) {
        await execFileAsync(join(root, 'scripts/redis-cluster.sh'), ['restart-empty', port]);
        await sleep(300);
      }
    };
    try {
      await withNamespace('redis', env, async (ns, nc) => {
        const ledger = new Ledger();
        const engine = new EngineProcess(ns, env);
        await engine.start();
        const evs = events(n, `${ns}r`);
        if (during === 'ingest') {
          const { atFault, stillFlowing } = await produceWithFault(nc, ns, evs, ledger,
            () => engine.metric('tierstream_events_ingested_total'), () => restartEmpty(engine));
          expect(v, stillFlowing, `Redis went away while events were still being published (${atFault}/${n} ingested at the fault)`);
        } else {
          await produce(nc, ns, evs, ledger);
          await drained(nc, ns);
          // Expire every campaign and canvas but c0, then restore them and lose Redis meanwhile.
          // c0 stays hot: the lookup while Redis is away reads its index (a restoring source
          // answers source_restoring from the registry, without Redis).
          const ids = [...new Set([...ledger.published.values()].map((e) => sourceName(refOf(e))))].filter((name) => name !== 'campaign:c0');
          for (const name of ids) {
            const [kind, id] = name.split(':');
            await engine.http('POST', `/v1/${kind === 'campaign' ? 'campaigns' : 'canvases'}/${id}/demote`);
          }
          const tierOf = async (name: string) => {
            const [kind, id] = name.split(':');
            return (await engine.http('GET', `/v1/${kind === 'campaign' ? 'campaigns' : 'canvases'}/${id}`)).body.tier;
          };
          await eventually(async () => (await Promise.all(ids.map(tierOf))).every((t) => t === 'expired'), 'all expired');
          for (const name of ids) {
            const [kind, id] = name.split(':');
            await engine.http('POST', `/v1/${kind === 'campaign' ? 'campaigns' : 'canvases'}/${id}/restore`);
          }
          await eventually(async () => (await Promise.all(ids.map(tierOf))).some((t) => t === 'restoring'), 'a restore under way', 10_000);
          await restartEmpty(engine);
          // Late events while it heals.
          await produce(nc, ns, events(n / 10, `${ns}late`, 2), ledger);
          await eventually(async () => (await Promise.all(ids.map(tierOf))).every((t) => t === 'hot'), 'all hot again', 60_000);
        }
        const rebuilt = await eventually(async () => {
          const r = await engine.http('GET', '/readyz');
          return r.status === 200 ? engine.metric('tierstream_hot_rebuilds_total') : undefined;
        }, '/readyz 200 after the rebuild', 60_000);
        v.notes.push(`hot rebuilds ${rebuilt}`);
        // A new namespace's first start is not counted as a rebuild: this one is the loss's.
        expect(v, rebuilt >= 1, `the loss was noticed and the hot tier rebuilt (rebuilds ${rebuilt})`);
        await finish(v, ns, nc, ledger, env);
        await engine.kill('SIGTERM');
      }, async () => (cluster || redis.running ? undefined : redis.start()));
    } finally {
      await redis.stop();
    }
  });

/** 8. Poison input at volume, mixed with good events: all in the DLQ with their codes. */
export const poison = (size: Size) =>
  scenario('8 poison input at volume', async (v) => {
    const good = size === 'full' ? 30_000 : 3_000;
    const stack = await startStack(nsFor('poison'));
    try {
      const ledger = new Ledger();
      const js = stack.ts.nc.jetstream();
      const prefix = natsNames(stack.ns).subjectPrefix;
      const base = { type: 'send', userId: 'u1', campaignId: 'p', time: 1_700_000_000_000 };
      const kinds: [string, () => string][] = [
        ['invalid_json', () => '{"id": "x", '],
        ['invalid_json', () => '\u0000\u0001 not json'],
        ['not_an_object', () => '[1,2,3]'],
        ['invalid_field', () => JSON.stringify({ ...base, id: 'a', userId: 42 })],
        ['missing_field', () => JSON.stringify({ type: 'send', campaignId: 'p', time: 1 })],
        ['unknown_field', () => JSON.stringify({ ...base, id: 'a', colour: 'red' })],
        ['unknown_field', () => '{"__proto__": {"polluted": 1}, "id": "a", "type": "send", "userId": "u", "campaignId": "p", "time": 1}'],
        ['message_too_large', () => JSON.stringify({ ...base, id: 'a', properties: { pad: 'x'.repeat(16 * 1024) } }).slice(0, 16 * 1024 + 1).padEnd(16 * 1024 + 1, ' ')],
        ['invalid_field', () => JSON.stringify({ ...base, id: "o'brien" })],
        ['invalid_field', () => JSON.stringify({ ...base, id: 'star*' })],
        ['invalid_field', () => JSON.stringify({ ...base, id: '{brace}' })],
        ['invalid_field', () => JSON.stringify({ ...base, id: 'new\nline' })],
        ['invalid_field', () => JSON.stringify({ ...base, id: 'x'.repeat(10_000) })],
        ['invalid_field', () => JSON.stringify({ ...base, id: 'a', userId: 'u'.repeat(10_000) })],
        ['invalid_time', () => JSON.stringify({ ...base, id: 'a', time: 'yesterday' })],
        ['invalid_source', () => JSON.stringify({ ...base, id: 'a', canvasId: 'cv' })],
      ];
      const bad = size === 'full' ? 8_000 : 800;
      const expected = new Map<string, number>();
      // Baseline first: the same number of good events alone (recorded, not asserted: speed
      // belongs to benchmarks).
      const t0 = performance.now();
      await produce(stack.ts.nc, stack.ns, events(good, `${stack.ns}base`, 5), ledger);
      await drained(stack.ts.nc, stack.ns);
      const alone = (performance.now() - t0) / 1000;
      const goodEvents = events(good, `${stack.ns}g`);
      const t = performance.now();
      const producing = produce(stack.ts.nc, stack.ns, goodEvents, ledger);
      for (let i = 0; i < bad; i += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, j) => {
          const [code, make] = kinds[(i + j) % kinds.length]!;
          expected.set(code, (expected.get(code) ?? 0) + 1);
          const h = natsHeaders();
          h.set('Nats-Msg-Id', `${stack.ns}-bad-${i + j}`);
          return js.publish(`${prefix}send`, make(), { headers: h });
        }));
      }
      await producing;
      await drained(stack.ts.nc, stack.ns);
      const mixed = (performance.now() - t) / 1000;
      v.notes.push(`${good} good events alone drained in ${alone.toFixed(1)} s; ${good} good + ${bad} poison in ${mixed.toFixed(1)} s (good events/s ratio ${(alone / mixed).toFixed(2)})`);
      const dlq = await stack.dlq();
      const got = new Map<string, number>();
      for (const d of dlq) got.set(d.code, (got.get(d.code) ?? 0) + 1);
      expect(v, dlq.length === bad, `every poison message in the DLQ (${dlq.length}/${bad})`);
      for (const [code, count] of expected) expect(v, got.get(code) === count, `${code}: ${got.get(code) ?? 0} dead letters, expected ${count}`);
      expect(v, dlq.every((d) => d.subject === `${prefix}send`), 'each dead letter names its original subject');
      record(v, await check(stack.ts, stack.ns, ledger));
    } finally {
      await stack.stop();
    }
  });

/** 9. A batch that fails every time while the stores answer: bounded retries, then the DLQ with its cause. */
export const rejectedBatch = (size: Size) =>
  scenario('9 batch rejected every time -> bounded retry -> DLQ', async (v) => {
    const n = size === 'full' ? 10_000 : 2_000;
    const stack = await startStack(nsFor('rej'), { writeAttempts: 3, backoffBaseMs: 20, backoffMaxMs: 100 });
    try {
      // ClickHouse "rejects" any insert holding a marked event, as it would a value it cannot parse.
      const insert = stack.ts.history.insert.bind(stack.ts.history);
      stack.ts.history.insert = async (evs) => {
        const bad = evs.find((e) => e.id.includes('-reject-'));
        if (bad) throw new Error(`Code: 27, e.displayText() = DB::Exception: Cannot parse input: event ${bad.id}`);
        return insert(evs);
      };
      const ledger = new Ledger();
      const all = events(n, `${stack.ns}b`).map((e, i) => (i % 997 === 13 ? { ...e, id: `${e.id}-reject-${i}` } : e));
      const rejects = all.filter((e) => e.id.includes('-reject-'));
      await produce(stack.ts.nc, stack.ns, all, ledger);
      await drained(stack.ts.nc, stack.ns, 20_000);
      const dlq = await stack.dlq();
      expect(v, dlq.length === rejects.length && dlq.every((d) => d.code === 'write_failed'), `the rejected events, and only they, in the DLQ as write_failed (${dlq.length}/${rejects.length})`);
      // Not owed to history: they were acknowledged by JetStream but dead-lettered with their cause.
      for (const e of rejects) ledger.acked.delete(e.id), ledger.published.delete(e.id);
      record(v, await check(stack.ts, stack.ns, ledger));
      v.notes.push(`${rejects.length} events dead-lettered with write_failed`);
    } finally {
      await stack.stop();
    }
  });

/** 10. Demote, restore and late events of one source interleaved by a randomised schedule. */
export const interleaved = (size: Size) =>
  scenario(`10 demote/restore/late events interleaved (${size === 'full' ? 12 : 3} seeds)`, async (v) => {
    const stack = await startStack(nsFor('mix'));
    try {
      const ledger = new Ledger();
      const seeds = size === 'full' ? 12 : 3;
      for (let seed = 1; seed <= seeds; seed++) {
        const rand = rng(seed * 31);
        const id = `mix${seed}`;
        for (let round = 0; round < 8; round++) {
          const burst = Array.from({ length: 30 + Math.floor(rand() * 90) }, (_, j) => ({
            id: `${stack.ns}-${id}-${round}-${j}`, type: rand() < 0.5 ? 'send' : 'click', userId: `u${Math.floor(rand() * 30)}`,
            campaignId: id, variantId: `v${Math.floor(rand() * 2)}`, channel: 'email', time: 1_700_000_000_000 + Math.floor(rand() * 1e6),
          })) as ReturnType<typeof events>;
          const producing = produce(stack.ts.nc, stack.ns, burst, ledger, { window: 50 });
          const action = rand();
          if (action < 0.4) void send(stack.ts, 'POST', `/v1/campaigns/${id}/demote`);
          else if (action < 0.8) void send(stack.ts, 'POST', `/v1/campaigns/${id}/restore`);
          await sleep(Math.floor(rand() * 60));
          await producing;
        }
        await stack.ts.tiers.settled();
        await eventually(async () => ['hot', 'expired'].includes((await getJson(stack.ts, `/v1/campaigns/${id}`)).body.tier), 'settled');
        // End hot so the checker compares Redis with history for every seed.
        await send(stack.ts, 'POST', `/v1/campaigns/${id}/restore`);
        await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.tier === 'hot', `${id} hot`);
      }
      await drained(stack.ts.nc, stack.ns);
      await eventually(async () => stack.ts.engine!.inflight() === 0, 'no batch in flight');
      record(v, await check(stack.ts, stack.ns, ledger));
    } finally {
      await stack.stop();
    }
  });

/** 11. Two engine processes on one namespace; the one running a restore is killed mid-restore. */
export const twoEngines = (size: Size) =>
  scenario('11 two engines, one killed mid-restore', async (v) => {
    const n = size === 'full' ? 60_000 : 8_000;
    await withNamespace('two', {}, async (ns, nc) => {
      const ledger = new Ledger();
      // A 3 s lease: the survivor takes the dead process's restore over after that. `a` kills
      // itself right after its restore applied its first chunk to Redis.
      const a = new EngineProcess(ns, { TIERSTREAM_TIER_LEASE_MS: '3000', TIERSTREAM_INGEST_ACK: 'explicit' }, CHILD);
      const b = new EngineProcess(ns, { TIERSTREAM_TIER_LEASE_MS: '3000', TIERSTREAM_INGEST_ACK: 'explicit' });
      await a.start({ TIERSTREAM_FAULT: 'mid-restore:1' });
      await b.start();
      await produce(nc, ns, events(n, `${ns}t`).map((e) => ({ ...e, campaignId: 'big', canvasId: undefined, stepId: undefined })), ledger);
      await drained(nc, ns);
      await a.http('POST', '/v1/campaigns/big/demote');
      await eventually(async () => (await a.http('GET', '/v1/campaigns/big')).body.tier === 'expired', 'expired');
      // The restore runs in the process it was asked of.
      const asked = await a.http('POST', '/v1/campaigns/big/restore');
      await a.exited();
      const atKill = (await b.http('GET', '/v1/campaigns/big')).body;
      expect(v, asked.status === 202 && a.child.signalCode === 'SIGKILL' && atKill.tier === 'restoring', `killed mid-restore (restore answered ${asked.status}, ${a.child.signalCode}, tier ${atKill.tier})`);
      const late = events(n / 20, `${ns}late`, 3).map((e) => ({ ...e, campaignId: 'big', canvasId: undefined, stepId: undefined }));
      await produce(nc, ns, late, ledger);
      const s = await eventually(async () => {
        const body = (await b.http('GET', '/v1/campaigns/big')).body;
        return body.tier === 'hot' ? body : undefined;
      }, 'the surviving engine finished the restore', 90_000);
      const tiers = s.transitions.map((t: { tier: string }) => t.tier);
      v.notes.push(`transitions ${tiers.join('>')}`);
      expect(v, tiers.filter((t: string) => t === 'restoring').length === 2, 'the survivor took the restore over (a second restoring)');
      await finish(v, ns, nc, ledger);
      await b.kill('SIGTERM');
    });
  });

/** 12. The API under load from an HTTP load generator: correct 429s, no 5xx, p99 recorded. */
export const apiLoad = (size: Size) =>
  scenario('12 API under load (rate limit 300/s)', async (v) => {
    await withNamespace('load', {}, async (ns, nc) => {
      const ledger = new Ledger();
      const engine = new EngineProcess(ns, { TIERSTREAM_RATE_LIMIT: '300' });
      await engine.start();
      await produce(nc, ns, events(5_000, `${ns}l`), ledger);
      await drained(nc, ns);
      const load = await runLoad({
        url: `http://127.0.0.1:${engine.port}/v1/retargeting/check`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        bodies: [JSON.stringify({ filter: { campaign: 'c0', event: 'send' }, userIds: ['u1', 'u2', 'u3'] })],
        connections: 20,
        durationSeconds: size === 'full' ? 20 : 3, // = seconds below
      });
      v.notes.push(`${load.responses} responses, ${load.statusCodes['200'] ?? 0} x 200, ${load.statusCodes['429'] ?? 0} x 429, p99 ${load.latencyMs.p99} ms`);
      const fivexx = Object.entries(load.statusCodes).filter(([s]) => s.startsWith('5')).reduce((a, [, c]) => a + c, 0);
      expect(v, fivexx === 0, `no 5xx (${fivexx})`);
      expect(v, (load.statusCodes['429'] ?? 0) > 0, 'the rate limit answered 429');
      expect(v, load.errors === 0 && load.timeouts === 0, `no connection errors or timeouts (${load.errors}, ${load.timeouts})`);
      const seconds = size === 'full' ? 20 : 3;
      const ok = load.statusCodes['200'] ?? 0;
      expect(v, ok <= 300 * (seconds + 1), `the limit held: ${ok} answered in ${seconds} s at 300/s`);
      // A burst over the limit: its 429s say when to retry.
      // (waves of 200 until the limit answers: a loaded machine may spread one wave over
      // more than the 1 s window)
      const limited: Response[] = [];
      for (let wave = 0; wave < 20 && !limited.length; wave++) {
        const burst = await Promise.all(Array.from({ length: 200 }, () => fetch(`http://127.0.0.1:${engine.port}/v1/campaigns/c0`)));
        await Promise.all(burst.map((r) => r.arrayBuffer()));
        limited.push(...burst.filter((r) => r.status === 429));
      }
      expect(v, limited.length > 0 && limited.every((r) => Number(r.headers.get('retry-after')) >= 1), `429s of a burst carry Retry-After (${limited.length} limited)`);
      await sleep(1_100);
      expect(v, (await engine.http('GET', '/v1/campaigns/c0')).status === 200, 'answers again once the window passed');
      await finish(v, ns, nc, ledger);
      await engine.kill('SIGTERM');
    });
  });

/** The port of each server of a comma-separated URL list (NATS_URL, CLICKHOUSE_URL). */
const portsOf = (urls: string) => urls.split(',').map((u) => new URL(u.trim()).port);
const onNatsCluster = () => (process.env.NATS_URL ?? '').includes(',');
const onClickHouseCluster = () => !!process.env.CLICKHOUSE_CLUSTER && (process.env.CLICKHOUSE_URL ?? '').includes(',');

/**
 * 13. One node of the NATS cluster (scripts/nats-cluster.sh) stopped during ingest and
 * started again: streams and buckets have three replicas, so JetStream keeps its quorum and
 * the engine's client reconnects to another node.
 */
export const natsNodeDown = (size: Size) =>
  scenario(`13 NATS cluster: a node stopped ${size === 'full' ? 15 : 4} s during ingest`, async (v) => {
    const n = size === 'full' ? 60_000 : 6_000;
    const port = portsOf(process.env.NATS_URL!)[0]!;
    const script = join(root, 'scripts/nats-cluster.sh');
    await withNamespace('natsnode', {}, async (ns, nc) => {
      const ledger = new Ledger();
      const engine = new EngineProcess(ns);
      await engine.start();
      const { atFault, stillFlowing } = await produceWithFault(nc, ns, events(n, `${ns}n`), ledger,
        () => engine.metric('tierstream_events_ingested_total'),
        async () => {
          await execFileAsync(script, ['stop-node', port]);
          await sleep(size === 'full' ? 15_000 : 4_000);
          await execFileAsync(script, ['start-node', port]);
        });
      v.notes.push(`node ${port} stopped with ${atFault} events ingested; the producer was ${stillFlowing ? 'still' : 'no longer'} publishing`);
      await eventually(async () => (await engine.http('GET', '/readyz')).status === 200, '/readyz 200 with the node back', 60_000);
      await finish(v, ns, nc, ledger);
      await engine.kill('SIGTERM');
    }, async () => void (await execFileAsync(script, ['start-node', port])));
  });

/**
 * 14. One shard of the ClickHouse cluster (scripts/clickhouse-cluster.sh) stopped during
 * ingest: nothing is acknowledged while it is away (each batch has users of both shards,
 * inserts are synchronous), nothing is dead-lettered, /readyz names the node, and ingest
 * catches up once it is back.
 */
export const clickhouseShardDown = (size: Size) =>
  scenario(`14 ClickHouse cluster: a shard away ${size === 'full' ? 30 : 4} s during ingest`, async (v) => {
    const n = size === 'full' ? 60_000 : 6_000;
    const port = portsOf(process.env.CLICKHOUSE_URL!).at(-1)!;
    const script = join(root, 'scripts/clickhouse-cluster.sh');
    await withNamespace('chshard', {}, async (ns, nc) => {
      const ledger = new Ledger();
      const engine = new EngineProcess(ns);
      await engine.start();
      const producing = produce(nc, ns, events(n, `${ns}s`), ledger, { window: 500, paceMs: 20 });
      await eventually(async () => (await engine.metric('tierstream_events_ingested_total')) > 0, 'ingest under way');
      await execFileAsync(script, ['stop-node', port]);
      try {
        await sleep(1_000); // inserts that were already on both shards settle
        const ingestedAtStart = await engine.metric('tierstream_events_ingested_total');
        const ready = await eventually(async () => {
          const r = await engine.http('GET', '/readyz');
          return r.status === 503 ? r : undefined;
        }, '/readyz 503 while a shard is away', 10_000);
        expect(v, String(ready.body?.checks?.clickhouse).includes(`:${port}`), `/readyz names the node away: ${JSON.stringify(ready.body)}`);
        await sleep(size === 'full' ? 29_000 : 3_000);
        const ingestedAtEnd = await engine.metric('tierstream_events_ingested_total');
        expect(v, ingestedAtEnd === ingestedAtStart, `no ack while a shard is away (${ingestedAtEnd - ingestedAtStart} acked)`);
        const history = await engine.http('GET', '/v1/users/nobody/interactions?sources=campaign:c0&from=history');
        expect(v, history.status === 503 && history.body?.error === 'store_unavailable', `history answers 503 store_unavailable (${history.status} ${JSON.stringify(history.body)})`);
        v.notes.push(`${ingestedAtStart} events ingested when the shard went away, /readyz ${JSON.stringify(ready.body?.checks)}`);
      } finally {
        await execFileAsync(script, ['start-node', port]);
      }
      await eventually(async () => (await engine.http('GET', '/readyz')).status === 200, '/readyz 200 with the shard back', 60_000);
      await producing;
      await finish(v, ns, nc, ledger);
      await engine.kill('SIGTERM');
    }, async () => void (await execFileAsync(script, ['start-node', port])));
  });

/**
 * Every scenario, in order, with the id `npm run test:faults -- <id>` selects it by. 13 and
 * 14 only on the clusters they stop nodes of (`npm run test:faults:clusters`).
 */
export function all(size: Size, env: NodeJS.ProcessEnv = {}): { id: string; run: () => Promise<Verdict> }[] {
  return [
    { id: '1', run: () => sigkillLoop(size, env) },
    { id: '2a', run: () => killBetweenWrites(size, 'after-history') },
    { id: '2b', run: () => killBetweenWrites(size, 'after-hot') },
    { id: '3', run: () => republish(size) },
    { id: '4', run: () => clickhouseDown(size) },
    { id: '5', run: () => clickhouseSlow(size) },
    { id: '6', run: () => natsRestart(size) },
    { id: '7a', run: () => redisRestart(size, 'ingest', env) },
    { id: '7b', run: () => redisRestart(size, 'restore', env) },
    { id: '8', run: () => poison(size) },
    { id: '9', run: () => rejectedBatch(size) },
    { id: '10', run: () => interleaved(size) },
    { id: '11', run: () => twoEngines(size) },
    { id: '12', run: () => apiLoad(size) },
    ...(onNatsCluster() ? [{ id: '13', run: () => natsNodeDown(size) }] : []),
    ...(onClickHouseCluster() ? [{ id: '14', run: () => clickhouseShardDown(size) }] : []),
  ];
}
