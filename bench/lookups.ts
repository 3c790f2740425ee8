/**
 * Lookups benchmark: `POST /v1/retargeting/check` over real HTTP on loopback, driven by
 * autocannon in a child process, against tierstream (engine + API in this process) holding
 * 20 campaigns x 200k users of hot data. Phases in one run, in a random namespace that is
 * removed at the end: a bare-Fastify reference, hot while idle, hot while `scripts/produce.ts`
 * streams into the same engine, and the same question answered from ClickHouse
 * (`"from": "history"`).
 * Method and measured numbers: bench/README.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { Cluster, type Redis } from 'ioredis';
import Fastify from 'fastify';
import { pino } from 'pino';
import { configFromEnv } from '../config.js';
import { createTierstream, type Tierstream } from '../runtime.js';
import { foldEvents, type InteractionEvent } from '../core/index.js';
import { natsNames } from '../engine/index.js';
import { ClickHouseHistory, createRedis, sourceKeys } from '../storage/index.js';
import { rng } from '../scripts/generate.js';
import { runLoad, type LoadResult } from './http-load.js';
import { MiB, machineBusy, round, startPhase, table, timed, type PhaseUsage, type StageTime } from './measure.js';
import type { Benchmark } from './types.js';
import { cleanupNamespace, machineInfo, until, writeResult } from './namespace.js';

const TARGET_P99_IDLE_MS = 2;
const TARGET_P99_INGEST_MS = 10;
const TARGET_CHECKS_PER_SECOND_IDLE = 10_000;
const TARGET_HOT_OVER_HISTORY = 10;
/** The limiter stays in the request path but never answers 429 during the benchmark. */
const RATE_LIMIT = 10_000_000;
/** Bodies compared hot against history before the phases (and again before history's phase). */
const AGREEMENT_SAMPLE = 20;
/** Users per campaign generated, inserted and applied at a time during setup. */
const SETUP_CHUNK_USERS = 50_000;
/** A wait (drain, merges) that makes no progress this long fails or gives up, ms. */
/** Longest wait for ClickHouse background merges to finish before a phase, ms. */
const MERGE_WAIT_MS = 180_000;

const DAY_MS = 86_400_000;
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

interface Params {
  campaigns: number;
  users: number;
  clickPct: number;
  idsPerCheck: number;
  bodies: number;
  connections: number;
  duration: number;
  warmup: number;
  produceEvents: number;
  seed: number;
}

type Stages = Record<'registry.get' | 'hot.scores' | 'history.filterUsers', StageTime>;

interface PhaseResult {
  phase: string;
  from: 'hot' | 'history' | 'none';
  load: LoadResult;
  /** This process: the server (API + engine). Its CPU, RSS, event loop; the services' CPU. */
  server: PhaseUsage;
  /** Store calls made by the lookups during the measured window (this process's view). */
  stages: Record<string, StageTime & { meanMs: number }>;
  /**
   * Redis time by command during the window, from INFO commandstats (the server's own
   * measure of each command's execution; every client of this Redis counts).
   */
  redisCommands: Record<string, { calls: number; usec: number; usecPerCall: number }>;
  /** Phase 2 only: what the engine ingested while the load ran. */
  ingest?: {
    events: number;
    eventsPerSecond: number;
    consumerPendingAtStart: number;
    consumerPendingAtEnd: number;
    producerRanThroughout: boolean;
    producerCpuSeconds: number;
  };
}

interface Ctx {
  ns: string;
  p: Params;
  signal: AbortSignal;
  nc: NatsConnection;
  jsm: JetStreamManager;
  /** The bench's own ClickHouse client: waiting for merges never borrows the server's connections. */
  history: ClickHouseHistory;
  redis: Redis | Cluster;
  ts?: Tierstream;
  producer?: ChildProcess;
  url: string;
  headers: Record<string, string>;
  stages: Stages;
  /** Lookup store calls under way (autocannon stops with requests in flight). */
  inflight: number;
}

export const lookups: Benchmark = {
  name: 'lookups',
  question:
    'How fast does POST /v1/retargeting/check answer "which of these 100 users got campaign c0 and did not click it" over HTTP ' +
    '(p50/p99 latency, checks/s), from the hot tier while idle and while events stream into the same engine, ' +
    'and how much faster is that than the same question answered by ClickHouse ("from": "history")? ' +
    'For reference: how many requests/s does a bare Fastify app answer here with the same bodies?',
  options: {
    campaigns: { default: 20, min: 1, description: 'campaigns with hot data (c0..)' },
    users: { default: 200_000, min: 100, description: 'users per campaign (u0..), each with a send' },
    'click-pct': { default: 30, min: 0, description: 'percent of users with a click after their send' },
    'ids-per-check': { default: 100, min: 1, description: 'user ids per check request' },
    bodies: { default: 1_000, min: 1, description: 'distinct request bodies (random ids), sent in turn' },
    connections: { default: 10, min: 1, description: 'autocannon connections (one request in flight on each)' },
    duration: { default: 10, min: 1, description: 'seconds measured per phase' },
    warmup: { default: 3, min: 0, description: 'seconds of unmeasured load before each phase' },
    'produce-events': { default: 2_000_000, min: 1, description: 'phase 2: --events of scripts/produce.ts (stopped when the phase ends)' },
    seed: { default: 1, min: 0, description: 'PRNG seed of data and request ids' },
  },
  async run(raw, signal) {
    const p: Params = {
      campaigns: raw.campaigns!,
      users: raw.users!,
      clickPct: raw['click-pct']!,
      idsPerCheck: raw['ids-per-check']!,
      bodies: raw.bodies!,
      connections: raw.connections!,
      duration: raw.duration!,
      warmup: raw.warmup!,
      produceEvents: raw['produce-events']!,
      seed: raw.seed!,
    };
    if (p.clickPct > 100) throw new RangeError('--click-pct must be at most 100');
    if (p.idsPerCheck > 1_000) throw new RangeError('--ids-per-check must be at most 1000 (the API limit)');
    if (p.idsPerCheck > p.users) throw new RangeError('--ids-per-check must be at most --users');
    await runLookups(p, signal);
  },
};

async function runLookups(p: Params, signal: AbortSignal): Promise<void> {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const apiKey = randomBytes(16).toString('hex');
  const config = configFromEnv({
    ...process.env,
    TIERSTREAM_NAMESPACE: ns,
    TIERSTREAM_ROLE: 'all',
    TIERSTREAM_RATE_LIMIT: String(RATE_LIMIT),
    TIERSTREAM_API_KEYS: `${apiKey}:lookup`,
  });
  const nc = await connect({ servers: config.natsServers, name: `bench-${ns}` });
  const ctx: Ctx = {
    ns, p, signal, nc,
    jsm: await nc.jetstreamManager(),
    history: new ClickHouseHistory({ url: config.clickhouseUrl, database: ns }),
    redis: createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes }),
    url: '',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    stages: newStages(),
    inflight: 0,
  };
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  console.log(`namespace ${ns}; ${os.cpus().length} CPUs, node ${process.version}, load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}; ` +
    `TIERSTREAM_RATE_LIMIT=${RATE_LIMIT} (the limiter runs but never refuses), one API key with scope lookup, log level warn`);
  const busy = await machineBusy();
  if (busy !== undefined && busy > 0.2) {
    console.log(`warning: ${(busy * 100).toFixed(0)}% of the CPUs were busy in the second before the start: something else uses the machine, expect lower numbers`);
  }
  try {
    // The same wiring and start order as main.ts with role all.
    const ts = await createTierstream(config, { log: pino({ level: 'warn', base: { ns } }) });
    ctx.ts = ts;
    await ts.engine!.start();
    ts.tiers.start();
    // A new namespace has no sentinel: the first check claims a (trivial) rebuild; let it end.
    await until(ctx, 'initial hot-tier check', 50, async () => ({ done: !(await ts.tiers.rebuilding()), progress: 0 }));
    await ts.app.listen({ host: '127.0.0.1', port: 0 });
    ctx.url = `http://127.0.0.1:${(ts.app.server.address() as AddressInfo).port}/v1/retargeting/check`;
    instrument(ctx, ts);

    const setup = await loadData(ctx, ts);
    console.log(`setup: ${setup.events.toLocaleString('en-US')} events (${p.campaigns} campaigns x ${p.users.toLocaleString('en-US')} users) ` +
      `into ClickHouse and Redis in ${setup.seconds.toFixed(1)} s; Redis +${setup.redisMiB} MiB; c0: ${setup.c0.any} users, ` +
      `${setup.c0.send} with a send, ${setup.c0.click} with a click`);
    const merges = await waitForMerges(ctx);
    console.log(`ClickHouse merges settled in ${merges.seconds.toFixed(1)} s (${merges.activeParts} active parts${merges.settled ? '' : ', NOT settled: still merging'})`);

    const pool = requestBodies(p);
    const agreeBefore = await agreement(ctx, pool);
    console.log(`hot and history agree on ${agreeBefore.agreeing}/${agreeBefore.compared} sample checks; ${agreeBefore.meanMatched} of ${p.idsPerCheck} ids matched on average`);
    if (agreeBefore.agreeing !== agreeBefore.compared) throw new Error('hot and history answers differ before the phases: the comparison would be meaningless');

    const phases: PhaseResult[] = [];
    phases.push(await measureCeiling(ctx, pool.hot));
    printPhase(phases.at(-1)!);
    phases.push(await measure(ctx, '(1) hot, idle', 'hot', pool.hot));
    printPhase(phases.at(-1)!);
    phases.push(await measureUnderIngest(ctx, ts, pool.hot));
    printPhase(phases.at(-1)!);
    const drained = await drainAndSettle(ctx);
    console.log(`after phase 2: engine drained in ${drained.drainSeconds.toFixed(1)} s, ClickHouse merges settled in ${drained.mergeSeconds.toFixed(1)} s${drained.settled ? '' : ' (NOT settled)'}`);
    const agreeAfter = await agreement(ctx, pool);
    console.log(`hot and history agree on ${agreeAfter.agreeing}/${agreeAfter.compared} sample checks after ingest`);
    phases.push(await measure(ctx, '(3) history, idle', 'history', pool.history));
    printPhase(phases.at(-1)!);

    const summary = summarize(phases);
    printSummary(ctx, phases, summary);
    const file = writeResult('lookups', startedAt, {
      benchmark: 'lookups',
      question: lookups.question,
      startedAt: startedAt.toISOString(),
      namespace: ns,
      parameters: p,
      settings: {
        request: { method: 'POST', path: '/v1/retargeting/check', filter: FILTER, exampleBody: pool.hot[0] },
        rateLimitPerSecond: RATE_LIMIT,
        auth: 'one API key, scope lookup, sent as Authorization: Bearer',
        logLevel: 'warn',
        pipelining: 1,
        producer: `node --import tsx scripts/produce.ts --events ${p.produceEvents} --campaigns ${p.campaigns} --users ${p.users} --seed ${p.seed} --quiet`,
      },
      machine: { ...(await machineInfo(ctx, loadAtStart)), cpuBusyBeforeStart: busy },
      setup: { ...setup, merges },
      agreement: { before: agreeBefore, afterIngest: agreeAfter },
      afterIngest: drained,
      phases,
      summary,
      targets: summary.targets,
    });
    console.log(`\nresult written to ${file}`);
  } finally {
    await cleanup(ctx);
  }
}

// ---- data ----------------------------------------------------------------------------------

/**
 * Setup, not measured: for each campaign and user a send at a random time of the last 29
 * days, and for `clickPct` percent of them a click within the hour after it. Events go to
 * ClickHouse with history.insert and into Redis as folds through hot.apply, the way a batch
 * of ingest writes them, SETUP_CHUNK_USERS users at a time.
 */
async function loadData(ctx: Ctx, ts: Tierstream) {
  const { p } = ctx;
  const rand = rng(p.seed);
  const now = Date.now();
  const idPrefix = ctx.ns.replaceAll('_', '-');
  const usedBefore = await redisUsedMemory(ctx);
  const t0 = performance.now();
  let events = 0;
  for (let c = 0; c < p.campaigns; c++) {
    const source = { kind: 'campaign' as const, id: `c${c}` };
    await ts.tiers.setLifecycle(source, { status: 'active', name: `bench campaign ${c}` });
    for (let from = 0; from < p.users; from += SETUP_CHUNK_USERS) {
      ctx.signal.throwIfAborted();
      const chunk: InteractionEvent[] = [];
      for (let u = from; u < Math.min(from + SETUP_CHUNK_USERS, p.users); u++) {
        const send = now - 29 * DAY_MS + Math.floor(rand() * 28 * DAY_MS);
        const base = { userId: `u${u}`, source, channel: 'email' as const };
        chunk.push({ ...base, id: `${idPrefix}-c${c}-u${u}-send`, type: 'send', time: send });
        if (rand() * 100 < p.clickPct) chunk.push({ ...base, id: `${idPrefix}-c${c}-u${u}-click`, type: 'click', time: send + Math.floor(rand() * 3_600_000) });
      }
      await Promise.all([ts.history.insert(chunk), ts.hot.apply(foldEvents(chunk))]);
      events += chunk.length;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const c0 = async (index: string) => ctx.redis.zcard(sourceKeys(ctx.ns, { kind: 'campaign', id: 'c0' }).index(index));
  return {
    events,
    seconds: round(seconds, 1),
    eventsPerSecond: Math.round(events / seconds),
    redisMiB: round(((await redisUsedMemory(ctx)) - usedBefore) / MiB, 1),
    c0: { any: await ts.hot.countUsers({ kind: 'campaign', id: 'c0' }), send: await c0('e:send'), click: await c0('e:click') },
  };
}

const FILTER = { and: [{ campaign: 'c0', event: 'send' }, { not: { campaign: 'c0', event: 'click' } }] };

/** The pool of request bodies, hot and history alike: `bodies` sets of distinct random user ids. */
function requestBodies(p: Params): { hot: string[]; history: string[]; ids: string[][] } {
  const rand = rng(p.seed + 1);
  const ids: string[][] = [];
  for (let b = 0; b < p.bodies; b++) {
    const set = new Set<string>();
    while (set.size < p.idsPerCheck) set.add(`u${Math.floor(rand() * p.users)}`);
    ids.push([...set]);
  }
  return {
    ids,
    hot: ids.map((userIds) => JSON.stringify({ filter: FILTER, userIds })),
    history: ids.map((userIds) => JSON.stringify({ filter: FILTER, userIds, from: 'history' })),
  };
}

/** Asks the first AGREEMENT_SAMPLE bodies both ways over HTTP and compares the answers. */
async function agreement(ctx: Ctx, pool: { hot: string[]; history: string[] }) {
  const n = Math.min(AGREEMENT_SAMPLE, pool.hot.length);
  let agreeing = 0;
  let matched = 0;
  for (let i = 0; i < n; i++) {
    const ask = async (body: string, from: string) => {
      const res = await fetch(ctx.url, { method: 'POST', headers: ctx.headers, body });
      const json = (await res.json()) as { matched?: string[]; servedFrom?: string };
      if (res.status !== 200 || json.servedFrom !== from || !json.matched) throw new Error(`check (${from}) answered ${res.status}: ${JSON.stringify(json)}`);
      return json.matched;
    };
    const [hot, history] = await Promise.all([ask(pool.hot[i]!, 'hot'), ask(pool.history[i]!, 'history')]);
    if (JSON.stringify(hot) === JSON.stringify(history)) agreeing++;
    matched += hot.length;
  }
  return { compared: n, agreeing, meanMatched: round(matched / n, 1) };
}

// ---- phases --------------------------------------------------------------------------------

/** Warm-up, then one measured autocannon run; the server's usage is taken around the latter. */
async function measure(ctx: Ctx, phase: string, from: PhaseResult['from'], bodies: string[], url = ctx.url): Promise<PhaseResult> {
  const opts = { url, method: 'POST' as const, headers: ctx.headers, bodies, connections: ctx.p.connections };
  if (ctx.p.warmup > 0) await runLoad({ ...opts, durationSeconds: ctx.p.warmup }, ctx.signal);
  resetStages(ctx.stages);
  const redisBefore = await redisCommandStats(ctx);
  const end = startPhase();
  const load = await runLoad({ ...opts, durationSeconds: ctx.p.duration }, ctx.signal);
  const server = end();
  const redisCommands = redisCommandDelta(redisBefore, await redisCommandStats(ctx));
  return { phase, from, load, server, stages: stageSummary(ctx.stages), redisCommands };
}

/**
 * Phase 0, a reference: a bare Fastify app in this process, on its own port, takes the same
 * requests (JSON body parsed, nothing validated, no auth, no rate limit, no lookup) and answers
 * 70 of the ids, about the size of a real answer. Whatever the hot path falls short of this,
 * tierstream spends; what this reaches is the most Node's HTTP stack gives on this machine.
 */
async function measureCeiling(ctx: Ctx, bodies: string[]): Promise<PhaseResult> {
  const app = Fastify({ bodyLimit: 1_048_576 });
  app.post<{ Body: { userIds: string[] } }>('/check', async (req) => ({ matched: req.body.userIds.slice(0, 70), servedFrom: 'hot' }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/check`;
    return await measure(ctx, '(0) ceiling: bare Fastify', 'none', bodies, url);
  } finally {
    await app.close();
  }
}

/**
 * Phase 2: the producer (scripts/produce.ts, as `npm run produce` runs it) publishes to the
 * namespace at full speed and the engine in this process ingests; the load starts once events
 * flow, and the producer is stopped when the phase ends.
 */
async function measureUnderIngest(ctx: Ctx, ts: Tierstream, bodies: string[]): Promise<PhaseResult> {
  const { p } = ctx;
  const producer = spawn(
    process.execPath,
    ['--import', 'tsx', 'scripts/produce.ts', '--events', String(p.produceEvents), '--campaigns', String(p.campaigns),
      '--users', String(p.users), '--seed', String(p.seed), '--quiet'],
    { cwd: repoRoot, env: { ...process.env, TIERSTREAM_NAMESPACE: ctx.ns }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  ctx.producer = producer;
  let output = '';
  producer.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  producer.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => producer.once('close', () => ((exited = true), resolve())));
  try {
    await until(ctx, 'first ingested events', 100, async () => {
      if (exited) throw new Error(`producer exited before the engine ingested anything: ${output.trim()}`);
      const n = await ingested(ts);
      return { done: n > 0, progress: n };
    });
    const opts = { url: ctx.url, method: 'POST' as const, headers: ctx.headers, bodies, connections: p.connections };
    if (p.warmup > 0) await runLoad({ ...opts, durationSeconds: p.warmup }, ctx.signal);
    resetStages(ctx.stages);
    const pendingAtStart = await consumerPending(ctx);
    const eventsAtStart = await ingested(ts);
    const producerCpuAtStart = pidCpuSeconds(producer.pid!);
    const redisBefore = await redisCommandStats(ctx);
    const end = startPhase();
    const t0 = performance.now();
    const load = await runLoad({ ...opts, durationSeconds: p.duration }, ctx.signal);
    const seconds = (performance.now() - t0) / 1000;
    const server = end();
    const redisCommands = redisCommandDelta(redisBefore, await redisCommandStats(ctx));
    const events = (await ingested(ts)) - eventsAtStart;
    const ranThroughout = !exited;
    const producerCpu = pidCpuSeconds(producer.pid!) - producerCpuAtStart;
    const pendingAtEnd = await consumerPending(ctx);
    if (!ranThroughout) console.log(`warning: the producer finished before the phase ended (raise --produce-events): ${output.trim()}`);
    return {
      phase: '(2) hot, under ingest', from: 'hot', load, server, stages: stageSummary(ctx.stages), redisCommands,
      ingest: {
        events,
        eventsPerSecond: Math.round(events / seconds),
        consumerPendingAtStart: pendingAtStart,
        consumerPendingAtEnd: pendingAtEnd,
        producerRanThroughout: ranThroughout,
        producerCpuSeconds: round(producerCpu, 2),
      },
    };
  } finally {
    if (!exited) producer.kill('SIGTERM');
    await exit;
    ctx.producer = undefined;
  }
}

/** Waits until the engine has settled everything the producer sent, then for ClickHouse merges. */
async function drainAndSettle(ctx: Ctx) {
  const t0 = performance.now();
  const names = natsNames(ctx.ns);
  await until(ctx, 'engine drain', 100, async () => {
    const info = await ctx.jsm.consumers.info(names.stream, names.consumer);
    return { done: info.num_pending === 0 && info.num_ack_pending === 0, progress: info.ack_floor.stream_seq };
  });
  const drainSeconds = (performance.now() - t0) / 1000;
  const merges = await waitForMerges(ctx);
  return { drainSeconds: round(drainSeconds, 1), mergeSeconds: merges.seconds, settled: merges.settled, activeParts: merges.activeParts };
}

async function ingested(ts: Tierstream): Promise<number> {
  return (await ts.metrics.eventsIngested.get()).values.reduce((s, v) => s + v.value, 0);
}

async function consumerPending(ctx: Ctx): Promise<number> {
  const names = natsNames(ctx.ns);
  const info = await ctx.jsm.consumers.info(names.stream, names.consumer);
  return info.num_pending + info.num_ack_pending;
}

/**
 * Waits until ClickHouse runs no merge in the namespace's database (twice in a row, 500 ms
 * apart): merges after the bulk setup insert would take CPU from the phases.
 */
async function waitForMerges(ctx: Ctx): Promise<{ seconds: number; settled: boolean; activeParts: number }> {
  const t0 = performance.now();
  let quiet = 0;
  while (quiet < 2 && performance.now() - t0 < MERGE_WAIT_MS) {
    ctx.signal.throwIfAborted();
    const [r] = await ctx.history.select<{ n: string }>(`SELECT count() AS n FROM system.merges WHERE database = '${ctx.ns}'`);
    quiet = Number(r?.n ?? 0) === 0 ? quiet + 1 : 0;
    if (quiet < 2) await sleep(500);
  }
  const [parts] = await ctx.history.select<{ n: string }>(`SELECT count() AS n FROM system.parts WHERE database = '${ctx.ns}' AND active`);
  return { seconds: round((performance.now() - t0) / 1000, 1), settled: quiet >= 2, activeParts: Number(parts?.n ?? 0) };
}

// ---- where the time goes -------------------------------------------------------------------

const newStages = (): Stages => ({
  'registry.get': { calls: 0, seconds: 0 },
  'hot.scores': { calls: 0, seconds: 0 },
  'history.filterUsers': { calls: 0, seconds: 0 },
});

function resetStages(s: Stages): void {
  for (const v of Object.values(s)) (v.calls = 0), (v.seconds = 0);
}

function stageSummary(s: Stages): PhaseResult['stages'] {
  return Object.fromEntries(Object.entries(s).filter(([, v]) => v.calls > 0).map(([k, v]) => [k, {
    calls: v.calls, seconds: round(v.seconds, 2), meanMs: round((v.seconds * 1000) / v.calls, 3),
  }]));
}

/**
 * Times the store calls a lookup makes by wrapping the store objects the lookup was given (it
 * holds the same instances), so the engine's and API's code is measured unchanged. Lookups
 * read tiers from the registry's mirror (`peek`, synchronous, not timed) and call
 * `registry.get` only for a source the mirror does not hold yet; ingest registers sources
 * through `ensure`, which is not wrapped.
 */
function instrument(ctx: Ctx, ts: Tierstream): void {
  ts.registry.get = timed(ctx.stages['registry.get'], ts.registry.get.bind(ts.registry), ctx);
  ts.hot.scores = timed(ctx.stages['hot.scores'], ts.hot.scores.bind(ts.hot), ctx);
  ts.history.filterUsers = timed(ctx.stages['history.filterUsers'], ts.history.filterUsers.bind(ts.history), ctx);
}

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) a process has used so far, from /proc (NaN where unreadable). */
function pidCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTicks;
  } catch {
    return NaN;
  }
}

type CommandStats = Map<string, { calls: number; usec: number }>;

/** INFO commandstats of every master, summed per command. */
async function redisCommandStats(ctx: Ctx): Promise<CommandStats> {
  const nodes = ctx.redis instanceof Cluster ? ctx.redis.nodes('master') : [ctx.redis];
  const out: CommandStats = new Map();
  for (const node of nodes) {
    for (const m of (await node.info('commandstats')).matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm)) {
      const prev = out.get(m[1]!) ?? { calls: 0, usec: 0 };
      out.set(m[1]!, { calls: prev.calls + Number(m[2]), usec: prev.usec + Number(m[3]) });
    }
  }
  return out;
}

/** Commands that ran between two snapshots, most Redis time first. */
function redisCommandDelta(before: CommandStats, after: CommandStats): PhaseResult['redisCommands'] {
  const rows: [string, { calls: number; usec: number; usecPerCall: number }][] = [];
  for (const [cmd, a] of after) {
    const b = before.get(cmd) ?? { calls: 0, usec: 0 };
    const calls = a.calls - b.calls;
    // A counter that went down was reset (CONFIG RESETSTAT) meanwhile: nothing to say.
    if (calls > 0 && a.usec >= b.usec) rows.push([cmd, { calls, usec: a.usec - b.usec, usecPerCall: round((a.usec - b.usec) / calls, 1) }]);
  }
  return Object.fromEntries(rows.sort((x, y) => y[1].usec - x[1].usec));
}

async function redisUsedMemory(ctx: Ctx): Promise<number> {
  const nodes = ctx.redis instanceof Cluster ? ctx.redis.nodes('master') : [ctx.redis];
  let used = 0;
  for (const node of nodes) used += Number(/used_memory:(\d+)/.exec(await node.info('memory'))?.[1] ?? 0);
  return used;
}

// ---- waiting and cleanup -------------------------------------------------------------------




/** Stops the producer and the server, then removes everything the namespace owns; reports, never throws. */
async function cleanup(ctx: Ctx): Promise<void> {
  if (ctx.producer && ctx.producer.exitCode === null) ctx.producer.kill('SIGTERM');
  // Requests the load generator left behind still run (history ones for a while): closing the
  // clients under them would only log errors.
  for (const t = performance.now(); ctx.inflight > 0 && performance.now() - t < 10_000;) await sleep(50);
  await cleanupNamespace(ctx, [['tierstream (engine drain, API)', async () => ctx.ts?.close()]]);
}

// ---- results -------------------------------------------------------------------------------

function summarize(phases: PhaseResult[]) {
  const [ceiling, idle, ingest, history] = phases as [PhaseResult, PhaseResult, PhaseResult, PhaseResult];
  const ratio = (a: number, b: number) => round(a / b, 1);
  const hotOverHistory = {
    requestsPerSecond: ratio(idle.load.requestsPerSecond, history.load.requestsPerSecond),
    p50: ratio(history.load.latencyMs.p50, idle.load.latencyMs.p50),
    p99: ratio(history.load.latencyMs.p99, idle.load.latencyMs.p99),
  };
  const errors = phases.reduce((s, x) => s + x.load.errors + x.load.non2xx, 0);
  const target = (t: number, actual: number, met: boolean) => ({ target: t, actual, met });
  return {
    hotOverHistory,
    hotOverCeilingRequestsPerSecond: round(idle.load.requestsPerSecond / ceiling.load.requestsPerSecond, 2),
    errorsAndNon2xx: errors,
    targets: {
      p99IdleMs: target(TARGET_P99_IDLE_MS, idle.load.latencyMs.p99, idle.load.latencyMs.p99 <= TARGET_P99_IDLE_MS),
      p99UnderIngestMs: target(TARGET_P99_INGEST_MS, ingest.load.latencyMs.p99, ingest.load.latencyMs.p99 <= TARGET_P99_INGEST_MS),
      checksPerSecondIdle: target(TARGET_CHECKS_PER_SECOND_IDLE, idle.load.requestsPerSecond, idle.load.requestsPerSecond >= TARGET_CHECKS_PER_SECOND_IDLE),
      hotOverHistoryRequestsPerSecond: target(TARGET_HOT_OVER_HISTORY, hotOverHistory.requestsPerSecond, hotOverHistory.requestsPerSecond >= TARGET_HOT_OVER_HISTORY),
      noErrors: target(0, errors, errors === 0),
    },
  };
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const fmtCpu = (s: Record<string, number>) => Object.entries(s).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ') || 'not readable';

function printPhase(r: PhaseResult): void {
  const l = r.load;
  console.log(`${r.phase}: ${fmt(l.responses)} checks in ${l.seconds.toFixed(2)} s = ${fmt(l.requestsPerSecond)}/s; ` +
    `latency ms p50 ${l.latencyMs.p50} p90 ${l.latencyMs.p90} p99 ${l.latencyMs.p99} p99.9 ${l.latencyMs.p999} max ${l.latencyMs.max} ` +
    `(autocannon, whole ms: p50 ${l.autocannon.latencyMs.p50} p99 ${l.autocannon.latencyMs.p99}); errors ${l.errors}, non-2xx ${l.non2xx}`);
  const s = r.server;
  const main = s.mainThread ? `, main thread on CPU ${s.mainThread.onCpuSeconds.toFixed(2)} s and waiting for a core ${s.mainThread.waitingSeconds.toFixed(2)} s` : '';
  console.log(`  server process CPU ${s.processCpuSeconds.toFixed(2)} s, event loop busy ${(s.eventLoopUtilization * 100).toFixed(0)}%${main}, peak RSS ${s.peakRssMiB} MiB; ` +
    `load generator CPU ${l.cpuSeconds.toFixed(2)} s; services CPU: ${fmtCpu(s.serviceCpuSeconds)}` +
    `${s.otherCpuSeconds !== undefined ? `; anything else (load generator and producer included) ${s.otherCpuSeconds.toFixed(2)} s` : ''}`);
  console.log(`  store calls: ${Object.entries(r.stages).map(([k, v]) => `${k} ${fmt(v.calls)}x mean ${v.meanMs} ms`).join(', ') || 'none'}`);
  const redis = Object.entries(r.redisCommands).slice(0, 4);
  const perCheck = Object.values(r.redisCommands).reduce((t, c) => t + c.usec, 0) / Math.max(1, l.responses);
  console.log(`  Redis (INFO commandstats, all clients): ${redis.map(([k, v]) => `${k} ${fmt(v.calls)}x ${v.usecPerCall} us`).join(', ') || 'nothing'}; ` +
    `${perCheck.toFixed(0)} us of Redis time per check`);
  if (r.ingest) {
    const i = r.ingest;
    console.log(`  ingest meanwhile: ${fmt(i.events)} events = ${fmt(i.eventsPerSecond)} events/s; consumer backlog ${fmt(i.consumerPendingAtStart)} -> ${fmt(i.consumerPendingAtEnd)}; ` +
      `producer CPU ${i.producerCpuSeconds.toFixed(2)} s${i.producerRanThroughout ? '' : '; producer finished early'}`);
  }
}

function printSummary(ctx: Ctx, phases: PhaseResult[], s: ReturnType<typeof summarize>): void {
  console.log(`\nsummary: POST /v1/retargeting/check, ${ctx.p.idsPerCheck} ids, filter c0 send and not c0 click; ` +
    `${ctx.p.connections} connections, ${ctx.p.duration} s per phase after ${ctx.p.warmup} s warm-up\n`);
  console.log(table(['phase', 'checks/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors+non-2xx', 'server CPU s', 'loadgen CPU s', 'events/s ingested'],
    phases.map((r) => [
      r.phase, r.load.requestsPerSecond, r.load.latencyMs.p50.toFixed(3), r.load.latencyMs.p90.toFixed(3), r.load.latencyMs.p99.toFixed(3),
      r.load.latencyMs.p999.toFixed(3), r.load.latencyMs.max.toFixed(3), r.load.errors + r.load.non2xx, r.server.processCpuSeconds.toFixed(2),
      r.load.cpuSeconds.toFixed(2), r.ingest ? r.ingest.eventsPerSecond : '-',
    ])));
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const t = s.targets;
  console.log(`\nhot / history: ${s.hotOverHistory.requestsPerSecond}x the checks/s, p50 ${s.hotOverHistory.p50}x and p99 ${s.hotOverHistory.p99}x lower; ` +
    `hot idle reaches ${(s.hotOverCeilingRequestsPerSecond * 100).toFixed(0)}% of the bare-Fastify ceiling's requests/s`);
  console.log(table(['target', 'actual', 'result'], [
    [`p99 idle <= ${TARGET_P99_IDLE_MS} ms`, `${t.p99IdleMs.actual} ms`, met(t.p99IdleMs.met)],
    [`p99 under ingest <= ${TARGET_P99_INGEST_MS} ms`, `${t.p99UnderIngestMs.actual} ms`, met(t.p99UnderIngestMs.met)],
    [`checks/s idle >= ${fmt(TARGET_CHECKS_PER_SECOND_IDLE)}`, fmt(t.checksPerSecondIdle.actual), met(t.checksPerSecondIdle.met)],
    [`hot >= ${TARGET_HOT_OVER_HISTORY}x history (checks/s)`, `${t.hotOverHistoryRequestsPerSecond.actual}x`, met(t.hotOverHistoryRequestsPerSecond.met)],
    ['no errors, no non-2xx', String(t.noErrors.actual), met(t.noErrors.met)],
  ]));
}



