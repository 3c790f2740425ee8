/**
 * Tiers benchmark: one large campaign (1,000,000 interactions over 100,000 users) demoted and
 * restored; the Redis memory a demotion frees; the aggregated restore side by side with
 * replaying the raw events from ClickHouse; ingest throughput with and without a restore
 * running. One random namespace, removed at the end. Method and numbers: bench/README.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, headers as natsHeaders, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { Cluster, type Redis } from 'ioredis';
import { pino } from 'pino';
import { configFromEnv, type Config } from '../config.js';
import { createTierstream, type Tierstream } from '../runtime.js';
import { ENGINE_DEFAULTS, ensureStreams, natsNames } from '../engine/index.js';
import { foldEvents, type AggregateRow, type Channel, type EventType, type InteractionEvent, type SourceRef } from '../core/index.js';
import { ClickHouseHistory, RedisHotIndex, createRedis, queries, sourceKeys } from '../storage/index.js';
import { generateEvents, type WireEvent } from '../scripts/generate.js';
import { MiB, cpuDelta, machineBusy, median, round, serviceCpu, startPhase, table, type CpuSnapshot, type PhaseUsage, timed, type StageTime } from './measure.js';
import type { Benchmark } from './types.js';
import { STALL_MS, cleanupNamespace, machineInfo, masters, until, writeResult } from './namespace.js';

const TARGET_RESTORE_SECONDS = 5;
const TARGET_DEMOTE_SECONDS = 1;
const TARGET_FREED_SHARE = 0.95;
/** The generator's name for its only campaign when asked for one. */
const SOURCE: SourceRef = { kind: 'campaign', id: 'c0' };
/** Events per history.insert while loading the source (setup, not measured). */
const LOAD_CHUNK = 100_000;
/** Raw rows per chunk read from ClickHouse by the replays. */
const RAW_CHUNK = 10_000;
/** Core publishes between flushes while pre-filling the stream (as bench/ingest.ts). */
const PREFILL_FLUSH_EVERY = 4_000;
/** How often the ingest phases read the engine's ack counter, ms (in-process, no server query). */
const INGEST_POLL_MS = 20;
/** CPU seconds of other processes during a phase above which it is flagged as not clean. */
const OTHER_CPU_NOISE_SECONDS = 1;
/** A wait whose progress stands still this long fails instead of hanging, ms. */

interface Params {
  events: number;
  users: number;
  variants: number;
  seed: number;
  runs: number;
  replayEvents: number;
  replayGroup: number;
  ingestEvents: number;
  chunkRows: number;
}

interface Ctx {
  ns: string;
  p: Params;
  config: Config;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The bench's own ClickHouse client: loading and raw reads never borrow tierstream's. */
  history: ClickHouseHistory;
  /** The bench's own Redis connection: memory accounting and the replays. */
  redis: Redis | Cluster;
  signal: AbortSignal;
  /** Messages published to the events stream so far (the ingest phases add to it). */
  published: number;
}

/** Per index name, the members and an order-independent hash of its (user, time) pairs. */
type Digest = Map<string, { members: number; hash: number }>;

interface Expected {
  digest: Digest;
  distinctUsers: number;
  members: number;
}

interface SourceMemory {
  /** Keys of the source that exist: key list, tier gate, index zsets. */
  keys: number;
  /** Members over all its index zsets. */
  members: number;
  /** Sum of MEMORY USAGE <key> SAMPLES 0 over those keys. */
  bytes: number;
}

interface RedisMemory {
  /** INFO memory used_memory, summed over masters, once lazyfree_pending_objects is 0. */
  usedMemory: number;
  usedMemoryRss: number;
}

type RestoreStages = Record<'history.countAggregateRows' | 'history.aggregateSource (waiting for the next chunk)' | 'hot.apply' | 'hot.setGate' | 'registry.update', StageTime>;

interface Check {
  ok: boolean;
  anyCard: number;
  distinctUsers: number;
  indexes: number;
  members: number;
  /** Index names whose members or (user, time) pairs differ from the expectation. */
  differing: string[];
}

interface RestoreResult extends PhaseUsage {
  seconds: number;
  aggregateRows: number;
  /**
   * (user, time) pairs sent to Redis in the restore's folds, over all indexes. More than the
   * members that result when a user's rows fall into several chunks (each sends its any/type entries).
   */
  membersSent: number;
  stages: RestoreStages;
  check: Check;
}

interface Cycle {
  run: number;
  /** The hot state before demotion equals the fold of the generated events. */
  before: Check;
  memoryBefore: { source: SourceMemory; redis: RedisMemory };
  demotion: PhaseUsage & {
    seconds: number;
    keysRemoved: number;
    /** After `settled()`, until Redis's background free (UNLINK) reported nothing pending, ms. */
    lazyFreeMs: number;
  };
  memoryAfter: { source: SourceMemory; redis: RedisMemory };
  /** 1 - (source bytes after / before), by MEMORY USAGE over the source's keys. */
  freedShareByKeys: number;
  /**
   * (used_memory before - after demotion) / (used_memory before - used_memory with the source
   * empty, measured at setup): the share of what the source really added to Redis that
   * demotion gave back. Other clients of the same Redis move it by their own writes.
   */
  freedShareByUsedMemory: number;
  restore: RestoreResult;
  /** The restored state equals the state before demotion (digest of every index). */
  equalsBeforeDemotion: boolean;
  memoryAfterRestore: SourceMemory;
}

interface ReplayResult extends PhaseUsage {
  method: 'one-by-one' | 'pipelined' | 'folded';
  description: string;
  /** Raw events replayed (a prefix when fewer than the source holds). */
  events: number;
  sourceEvents: number;
  /** hot.apply calls (one script call each, or one per 40,000 values for a large fold). */
  redisCalls: number;
  seconds: number;
  eventsPerSecond: number;
  /** seconds × sourceEvents / events: equal to `seconds` when the whole source was replayed. */
  secondsForAll: number;
  extrapolated: boolean;
  /** Time spent waiting for ClickHouse rows (query, transfer, TSV parse) and in hot.apply. */
  clickhouseWaitSeconds: number;
  applySeconds: number;
  check?: Check;
}

interface IngestWindow {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  processCpuSeconds: number;
  serviceCpuSeconds: CpuSnapshot;
}

interface IngestResult extends PhaseUsage {
  withRestore: boolean;
  events: number;
  prefill: { seconds: number; eventsPerSecond: number };
  /** From engine.start() until every event is acknowledged. */
  seconds: number;
  eventsPerSecond: number;
  /** Events acknowledged when the measured window began (engine warmed up). */
  warmupEvents: number;
  /**
   * Without restore: warm-up mark to drained. With restore: from the restore's start until it
   * ended or the backlog was drained, whichever came first (the time both ran).
   */
  window: IngestWindow;
  /** With restore: from the restore's end to drained (when the restore ended first). */
  afterRestore?: IngestWindow;
  restoreSeconds?: number;
  /** With restore: events still unacknowledged when the restore ended (0: the backlog ran out first). */
  backlogLeftAtRestoreEnd?: number;
  restoreCheck?: Check;
  deadLetters: number;
}

export const tiers: Benchmark = {
  name: 'tiers',
  question:
    'For a source of 1,000,000 interactions over 100,000 users: how long do a restore from ClickHouse (target <= 5 s) and a ' +
    'demotion (target <= 1 s) take, how much of the source\'s Redis memory does demotion free (target >= 95%), how does the ' +
    'aggregated restore compare with replaying the raw events one by one, and what happens to ingest throughput while a restore runs?',
  options: {
    events: { default: 1_000_000, min: 1, description: 'interactions of the one campaign (loaded into ClickHouse as setup)' },
    users: { default: 100_000, min: 1, description: 'generator: distinct users' },
    variants: { default: 3, min: 0, description: 'generator: variants of the campaign' },
    seed: { default: 1, min: 0, description: 'generator: PRNG seed' },
    runs: { default: 3, min: 1, description: 'demote + restore cycles; medians reported' },
    'replay-events': { default: 100_000, min: 1, description: 'raw events replayed one by one (prefix; time extrapolated to all)' },
    'replay-group': { default: 1_000, min: 1, description: 'pipelined replay: one-event script calls in flight per group' },
    'ingest-events': { default: 600_000, min: 1_000, description: 'events of other campaigns pre-filled for each ingest phase' },
    'chunk-rows': { default: 20_000, min: 1, description: 'restore chunk rows (TierManager restoreChunkRows)' },
  },
  async run(raw, signal) {
    const p: Params = {
      events: raw.events!,
      users: raw.users!,
      variants: raw.variants!,
      seed: raw.seed!,
      runs: raw.runs!,
      replayEvents: raw['replay-events']!,
      replayGroup: raw['replay-group']!,
      ingestEvents: raw['ingest-events']!,
      chunkRows: raw['chunk-rows']!,
    };
    await runTiers(p, signal);
  },
};

async function runTiers(p: Params, signal: AbortSignal): Promise<void> {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const config = configFromEnv({ ...process.env, TIERSTREAM_NAMESPACE: ns, TIERSTREAM_ROLE: 'engine' });
  const nc = await connect({ servers: config.natsServers, name: `bench-${ns}` });
  const ctx: Ctx = {
    ns, p, config, nc, signal,
    js: nc.jetstream(),
    jsm: await nc.jetstreamManager(),
    history: new ClickHouseHistory({ url: config.clickhouseUrl, database: ns, requestTimeoutMs: 300_000 }),
    redis: createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes }),
    published: 0,
  };
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  console.log(`namespace ${ns}; source ${SOURCE.kind}:${SOURCE.id}; ${os.cpus().length} CPUs, node ${process.version}, ` +
    `load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}`);
  const busy = await machineBusy();
  if (busy !== undefined && busy > 0.2) {
    console.log(`warning: ${(busy * 100).toFixed(0)}% of the CPUs were busy in the second before the start: something else uses the machine, expect slower numbers`);
  }
  let ts: Tierstream | undefined;
  try {
    // The tier manager's scans and Redis-loss check are not started (main.ts starts them):
    // the benchmark makes every transition itself, so nothing else moves the source.
    ts = await createTierstream(config, { tiers: { restoreChunkRows: p.chunkRows }, log: pino({ level: 'warn', base: { ns } }) });
    const stages = instrument(ts);

    // ---- setup: the source in ClickHouse, registered, hot ------------------------------
    console.log(`\nsetup: loading ${fmt(p.events)} events of ${SOURCE.kind}:${SOURCE.id} into ClickHouse (${fmt(p.users)} users, ${p.variants} variants, seed ${p.seed})`);
    const load = await loadSource(ctx);
    console.log(`  loaded in ${load.seconds.toFixed(1)} s (history.insert ${load.insertSeconds.toFixed(1)} s); ClickHouse: ${fmt(load.clickhouse.events)} events, ` +
      `${fmt(load.clickhouse.users)} users, ${fmt(load.clickhouse.aggregateRows)} aggregate rows; OPTIMIZE FINAL ${load.optimizeSeconds.toFixed(1)} s, ${load.parts} part(s)`);
    const { expected } = load;
    if (load.clickhouse.events !== p.events || load.clickhouse.users !== expected.distinctUsers) {
      throw new Error(`ClickHouse holds ${load.clickhouse.events} events and ${load.clickhouse.users} users; expected ${p.events} and ${expected.distinctUsers}`);
    }
    await ts.tiers.setLifecycle(SOURCE, { status: 'active', name: 'tiers benchmark source' });
    // Build the hot state the way production would after a loss: demote the (empty) source,
    // restore it. This first restore also warms ClickHouse's caches; it is reported, not targeted.
    await ts.tiers.demote(SOURCE, 'bench: setup', true);
    await ts.tiers.settled();
    const redisEmpty = await redisMemory(ctx);
    await waitForMerges(ctx);
    const build = await restoreOnce(ctx, ts, stages, expected, 'bench: setup (first restore)');
    console.log(`  first restore (builds the hot state): ${build.seconds.toFixed(3)} s; ${checkLine(build.check)}`);
    if (!build.check.ok) throw new Error('the hot state built by the first restore differs from the generated events');

    // ---- demote + restore cycles -------------------------------------------------------
    const cycles: Cycle[] = [];
    for (let r = 1; r <= p.runs; r++) {
      signal.throwIfAborted();
      await waitForMerges(ctx);
      const cycle = await demoteAndRestore(ctx, ts, stages, expected, r, redisEmpty.usedMemory);
      cycles.push(cycle);
      printCycle(cycle, p.runs, redisEmpty.usedMemory);
    }

    // ---- rebuild by replaying raw events, side by side with the restore ----------------
    const replays: ReplayResult[] = [];
    for (const method of ['one-by-one', 'pipelined', 'folded'] as const) {
      signal.throwIfAborted();
      await waitForMerges(ctx);
      const r = await replay(ctx, method, expected, load.clickhouse.events);
      replays.push(r);
      printReplay(r);
    }

    // ---- ingest without and with a restore running -----------------------------------
    const ingestRuns: IngestResult[] = [];
    for (const withRestore of [false, true]) {
      signal.throwIfAborted();
      if (withRestore) {
        await ts.tiers.demote(SOURCE, 'bench: before ingest with restore', true);
        await ts.tiers.settled();
      }
      await waitForMerges(ctx);
      const r = await ingestPhase(ctx, withRestore, expected, ingestRuns.length);
      ingestRuns.push(r);
      printIngest(r);
    }

    const summary = summarize(cycles, ingestRuns);
    printSummary(ctx, build, summary, replays, ingestRuns);
    const file = writeResult('tiers', startedAt, {
      benchmark: 'tiers',
      question: tiers.question,
      startedAt: startedAt.toISOString(),
      namespace: ns,
      source: SOURCE,
      parameters: p,
      settings: {
        loadChunk: LOAD_CHUNK,
        rawChunk: RAW_CHUNK,
        ingestPollMs: INGEST_POLL_MS,
        prefillFlushEvery: PREFILL_FLUSH_EVERY,
        engine: ENGINE_DEFAULTS,
      },
      machine: { ...(await machineInfo(ctx, loadAtStart)), cpuBusyBeforeStart: busy },
      setup: {
        loadSeconds: load.seconds,
        insertSeconds: load.insertSeconds,
        optimizeSeconds: load.optimizeSeconds,
        parts: load.parts,
        clickhouse: load.clickhouse,
        expected: { distinctUsers: expected.distinctUsers, indexes: expected.digest.size, members: expected.members },
        redisUsedMemoryWithSourceEmpty: redisEmpty,
        firstRestore: build,
      },
      cycles,
      replays,
      ingest: ingestRuns,
      summary,
      targets: {
        restoreSeconds: { target: TARGET_RESTORE_SECONDS, actual: summary.restoreSeconds, met: summary.restoreSeconds <= TARGET_RESTORE_SECONDS },
        demoteSeconds: { target: TARGET_DEMOTE_SECONDS, actual: summary.demoteSeconds, met: summary.demoteSeconds <= TARGET_DEMOTE_SECONDS },
        freedShare: { target: TARGET_FREED_SHARE, actual: summary.freedShareByUsedMemory, met: summary.freedShareByUsedMemory >= TARGET_FREED_SHARE },
      },
    });
    console.log(`\nresult written to ${file}`);
  } finally {
    await ts?.close().catch((err) => console.error(`bench: closing tierstream failed: ${(err as Error).message}`));
    await cleanupNamespace(ctx);
  }
}

// ---- setup -----------------------------------------------------------------------------

const toInteraction = (e: WireEvent): InteractionEvent => {
  const ev: InteractionEvent = {
    id: e.id,
    type: e.type,
    userId: e.userId,
    source: e.campaignId !== undefined ? { kind: 'campaign', id: e.campaignId } : { kind: 'canvas', id: e.canvasId! },
    channel: e.channel as Channel,
    time: e.time,
  };
  if (e.variantId !== undefined) ev.variantId = e.variantId;
  if (e.stepId !== undefined) ev.stepId = e.stepId;
  return ev;
};

/**
 * Generates the source's events, inserts them into ClickHouse in chunks of LOAD_CHUNK and folds
 * them in memory: the fold's digest is what every hot state of the source must equal.
 * Then merges the table's parts (a stopped campaign's history is long merged).
 */
async function loadSource(ctx: Ctx) {
  const { p } = ctx;
  const t0 = performance.now();
  const indexes = new Map<string, Map<string, number>>();
  let insertSeconds = 0;
  let chunk: InteractionEvent[] = [];
  const flush = async () => {
    const t = performance.now();
    await ctx.history.insert(chunk);
    insertSeconds += (performance.now() - t) / 1000;
    for (const fold of foldEvents(chunk)) {
      for (const [name, users] of fold.indexes) {
        let into = indexes.get(name);
        if (!into) indexes.set(name, (into = new Map()));
        for (const [u, time] of users) {
          const prev = into.get(u);
          if (prev === undefined || time > prev) into.set(u, time);
        }
      }
    }
    chunk = [];
    ctx.signal.throwIfAborted();
  };
  const idPrefix = `${ctx.ns.replaceAll('_', '-')}-src`;
  for (const e of generateEvents({ count: p.events, campaigns: 1, users: p.users, variants: p.variants, canvasShare: 0, seed: p.seed, idPrefix })) {
    chunk.push(toInteraction(e));
    if (chunk.length >= LOAD_CHUNK) await flush();
  }
  if (chunk.length) await flush();
  const seconds = (performance.now() - t0) / 1000;

  const tOpt = performance.now();
  const db = ctx.history.db;
  const partitions = await ctx.history.select<{ partition: string }>(
    `SELECT DISTINCT partition FROM system.parts WHERE database = '${db}' AND table = 'events' AND active`,
  );
  for (const { partition } of partitions) {
    await ctx.history.client.command({ query: `OPTIMIZE TABLE ${db}.events PARTITION ${Number(partition)} FINAL` });
  }
  await waitForMerges(ctx);
  const optimizeSeconds = (performance.now() - tOpt) / 1000;
  const [parts] = await ctx.history.select<{ n: string }>(`SELECT count() AS n FROM system.parts WHERE database = '${db}' AND table = 'events' AND active`);

  const [counts] = await ctx.history.select<{ events: string; users: string }>(
    `SELECT uniqExact(id) AS events, uniqExact(user_id) AS users FROM ${db}.events WHERE ${queries.sourceWhere(SOURCE)}`,
  );
  const aggregateRows = await ctx.history.countAggregateRows(SOURCE);
  const digest = digestOf(indexes);
  const expected: Expected = {
    digest,
    distinctUsers: indexes.get('any')?.size ?? 0,
    members: [...digest.values()].reduce((s, d) => s + d.members, 0),
  };
  return {
    seconds: round(seconds, 2),
    insertSeconds: round(insertSeconds, 2),
    optimizeSeconds: round(optimizeSeconds, 2),
    parts: Number(parts?.n ?? 0),
    clickhouse: { events: Number(counts?.events ?? 0), users: Number(counts?.users ?? 0), aggregateRows },
    expected,
  };
}

/** Waits until ClickHouse runs no merge in the namespace's database: none competes with a measured phase. */
async function waitForMerges(ctx: Ctx): Promise<void> {
  const started = performance.now();
  for (;;) {
    ctx.signal.throwIfAborted();
    const [r] = await ctx.history.select<{ n: string }>(`SELECT count() AS n FROM system.merges WHERE database = '${ctx.history.db}'`);
    if (Number(r?.n ?? 0) === 0) return;
    if (performance.now() - started > STALL_MS) throw new Error(`ClickHouse merges in ${ctx.history.db} still running after ${STALL_MS / 1000} s`);
    await sleep(200);
  }
}

// ---- state checks ------------------------------------------------------------------------

/** 48 bits of SHA-1 of one (user, time) pair; sums of these mod 2^48 compare sets in any order. */
const pairHash = (user: string, time: number) => createHash('sha1').update(`${user}\t${time}`).digest().readUIntBE(0, 6);
const HASH_MOD = 2 ** 48;

function digestOf(indexes: Map<string, Map<string, number>>): Digest {
  const out: Digest = new Map();
  for (const [name, users] of indexes) {
    let hash = 0;
    for (const [u, t] of users) hash = (hash + pairHash(u, t)) % HASH_MOD;
    out.set(name, { members: users.size, hash });
  }
  return out;
}

function differing(a: Digest, b: Digest): string[] {
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names].filter((n) => a.get(n)?.members !== b.get(n)?.members || a.get(n)?.hash !== b.get(n)?.hash).sort();
}

/** Reads the full hot state of `source` (ts.hot.snapshot) and compares it with the expected digest. */
async function checkState(hot: RedisHotIndex, source: SourceRef, expected: Expected): Promise<{ check: Check; digest: Digest }> {
  const digest = digestOf(await hot.snapshot(source));
  const diff = differing(expected.digest, digest);
  const anyCard = await hot.countUsers(source);
  return {
    digest,
    check: {
      ok: diff.length === 0 && anyCard === expected.distinctUsers,
      anyCard,
      distinctUsers: expected.distinctUsers,
      indexes: digest.size,
      members: [...digest.values()].reduce((s, d) => s + d.members, 0),
      differing: diff.slice(0, 20),
    },
  };
}

// ---- Redis memory ------------------------------------------------------------------------


/** MEMORY USAGE (SAMPLES 0: every member counted) of the source's key list, tier gate and index keys. */
async function sourceMemory(ctx: Ctx, source: SourceRef): Promise<SourceMemory> {
  const k = sourceKeys(ctx.ns, source);
  const names = await ctx.redis.smembers(k.keys);
  const out: SourceMemory = { keys: 0, members: 0, bytes: 0 };
  for (const key of [k.keys, k.tier, ...names]) {
    const bytes = (await ctx.redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) as number | null;
    if (bytes === null) continue;
    out.keys++;
    out.bytes += bytes;
    if (key !== k.keys && key !== k.tier) out.members += await ctx.redis.zcard(key);
  }
  return out;
}

const infoField = (info: string, field: string) => Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);

/**
 * INFO memory of every master, once Redis has no object left to free in the background
 * (UNLINK frees large values on a background thread: until then used_memory still counts them).
 */
async function redisMemory(ctx: Ctx): Promise<RedisMemory & { lazyFreeMs: number }> {
  const t0 = performance.now();
  for (;;) {
    const infos = await Promise.all(masters(ctx).map((m) => m.info('memory')));
    if (infos.every((i) => (infoField(i, 'lazyfree_pending_objects') || 0) === 0)) {
      return {
        usedMemory: infos.reduce((s, i) => s + infoField(i, 'used_memory'), 0),
        usedMemoryRss: infos.reduce((s, i) => s + infoField(i, 'used_memory_rss'), 0),
        lazyFreeMs: round(performance.now() - t0, 1),
      };
    }
    if (performance.now() - t0 > STALL_MS) throw new Error('Redis lazyfree_pending_objects did not reach 0');
    await sleep(5);
  }
}

// ---- demotion and restore ----------------------------------------------------------------

/** Members the instrumented hot.apply was given since the last reset. */
const membersSent = { n: 0 };

/**
 * Times the tier manager's store calls during a restore by wrapping the store objects it was
 * given (it holds the same instances), so the engine's code is measured unchanged.
 */
function instrument(ts: Tierstream): RestoreStages {
  membersSent.n = 0;
  const stages: RestoreStages = {
    'history.countAggregateRows': { calls: 0, seconds: 0 },
    'history.aggregateSource (waiting for the next chunk)': { calls: 0, seconds: 0 },
    'hot.apply': { calls: 0, seconds: 0 },
    'hot.setGate': { calls: 0, seconds: 0 },
    'registry.update': { calls: 0, seconds: 0 },
  };
  ts.history.countAggregateRows = timed(stages['history.countAggregateRows'], ts.history.countAggregateRows.bind(ts.history));
  const apply = timed(stages['hot.apply'], ts.hot.apply.bind(ts.hot));
  ts.hot.apply = (folds) => {
    for (const f of folds) for (const users of f.indexes.values()) membersSent.n += users.size;
    return apply(folds);
  };
  ts.hot.setGate = timed(stages['hot.setGate'], ts.hot.setGate.bind(ts.hot));
  ts.registry.update = timed(stages['registry.update'], ts.registry.update.bind(ts.registry));
  const aggregate = ts.history.aggregateSource.bind(ts.history);
  const waiting = stages['history.aggregateSource (waiting for the next chunk)'];
  ts.history.aggregateSource = async function* (source: SourceRef, chunkRows: number): AsyncGenerator<AggregateRow[]> {
    const it = aggregate(source, chunkRows);
    for (;;) {
      const t = performance.now();
      const r = await it.next();
      waiting.calls++;
      waiting.seconds += (performance.now() - t) / 1000;
      if (r.done) return;
      yield r.value;
    }
  };
  return stages;
}

function resetStages(stages: RestoreStages): void {
  for (const s of Object.values(stages)) (s.calls = 0), (s.seconds = 0);
  membersSent.n = 0;
}

const snapshotStages = (stages: RestoreStages): RestoreStages =>
  Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, { calls: v.calls, seconds: round(v.seconds, 3) }])) as RestoreStages;

/** `restore` + `settled()` of the (expired) source, timed; then its hot state checked in full. */
async function restoreOnce(ctx: Ctx, ts: Tierstream, stages: RestoreStages, expected: Expected, reason: string): Promise<RestoreResult> {
  resetStages(stages);
  const end = startPhase();
  const t0 = performance.now();
  const { started } = await ts.tiers.restore(SOURCE, reason);
  if (!started) throw new Error(`restore of ${SOURCE.id} did not start (the source was not expired)`);
  await ts.tiers.settled();
  const seconds = (performance.now() - t0) / 1000;
  const usage = end();
  const rec = await ts.registry.get(SOURCE);
  if (rec?.tier !== 'hot') throw new Error(`after the restore the source is ${rec?.tier ?? 'unknown'}, not hot (see the log)`);
  const last = rec.transitions[rec.transitions.length - 1]?.reason ?? '';
  const { check } = await checkState(ts.hot, SOURCE, expected);
  ctx.signal.throwIfAborted();
  return {
    seconds: round(seconds, 3),
    aggregateRows: Number(/(\d+) aggregate rows/.exec(last)?.[1] ?? NaN),
    membersSent: membersSent.n,
    stages: snapshotStages(stages),
    check,
    ...usage,
  };
}

async function demoteAndRestore(
  ctx: Ctx, ts: Tierstream, stages: RestoreStages, expected: Expected, run: number, usedMemoryEmpty: number,
): Promise<Cycle> {
  const { check: before, digest: beforeDigest } = await checkState(ts.hot, SOURCE, expected);
  const memoryBefore = { source: await sourceMemory(ctx, SOURCE), redis: await redisMemory(ctx) };

  const end = startPhase();
  const t0 = performance.now();
  const claimed = await ts.tiers.demote(SOURCE, 'bench: demotion', true);
  if (claimed.tier !== 'demoting') throw new Error(`demotion not claimed: the source is ${claimed.tier}`);
  await ts.tiers.settled();
  const seconds = (performance.now() - t0) / 1000;
  const usage = end();
  const rec = await ts.registry.get(SOURCE);
  if (rec?.tier !== 'expired') throw new Error(`after the demotion the source is ${rec?.tier ?? 'unknown'}, not expired (see the log)`);
  const redisAfter = await redisMemory(ctx);
  const memoryAfter = { source: await sourceMemory(ctx, SOURCE), redis: redisAfter };
  const keysRemoved = Number(/(\d+) keys removed/.exec(rec.transitions[rec.transitions.length - 1]?.reason ?? '')?.[1] ?? NaN);

  const restore = await restoreOnce(ctx, ts, stages, expected, 'bench: restore');
  const restoredDigest = digestOf(await ts.hot.snapshot(SOURCE));
  return {
    run,
    before,
    memoryBefore: { source: memoryBefore.source, redis: { usedMemory: memoryBefore.redis.usedMemory, usedMemoryRss: memoryBefore.redis.usedMemoryRss } },
    demotion: { seconds: round(seconds, 4), keysRemoved, lazyFreeMs: redisAfter.lazyFreeMs, ...usage },
    memoryAfter: { source: memoryAfter.source, redis: { usedMemory: redisAfter.usedMemory, usedMemoryRss: redisAfter.usedMemoryRss } },
    freedShareByKeys: round(1 - memoryAfter.source.bytes / memoryBefore.source.bytes, 5),
    freedShareByUsedMemory: round((memoryBefore.redis.usedMemory - redisAfter.usedMemory) / (memoryBefore.redis.usedMemory - usedMemoryEmpty), 4),
    restore,
    equalsBeforeDemotion: differing(beforeDigest, restoredDigest).length === 0,
    memoryAfterRestore: await sourceMemory(ctx, SOURCE),
  };
}

// ---- replays of the raw events -----------------------------------------------------------

/** Raw events of SOURCE from ClickHouse, streamed in chunks of RAW_CHUNK (at most `limit`), as events of `as`. */
async function* rawEvents(ctx: Ctx, as: SourceRef, limit: number | undefined): AsyncGenerator<InteractionEvent[]> {
  const query = `SELECT user_id, type, variant_id, step_id, time FROM ${ctx.history.db}.events WHERE ${queries.sourceWhere(SOURCE)}` +
    (limit === undefined ? '' : ` LIMIT ${limit}`);
  // TabSeparated, as the restore reads: ids of the contract's character sets hold no tab or newline.
  const rs = await ctx.history.client.query({ query, format: 'TabSeparated' });
  let chunk: InteractionEvent[] = [];
  for await (const rows of rs.stream()) {
    for (const row of rows) {
      const [userId, type, variantId, stepId, t] = row.text.split('\t') as [string, EventType, string, string, string];
      const e: InteractionEvent = { id: '', type, userId, source: as, time: Number(t) };
      if (variantId) e.variantId = variantId;
      if (stepId) e.stepId = stepId;
      chunk.push(e);
      if (chunk.length >= RAW_CHUNK) {
        yield chunk;
        chunk = [];
      }
    }
  }
  if (chunk.length) yield chunk;
}

/**
 * Rebuilds a copy of the source (another campaign id, same namespace, same RedisHotIndex and
 * Lua script as ingest) from its raw events:
 * - one-by-one: `await hot.apply(foldEvents([event]))` per event, the next only after the reply;
 * - pipelined: one event per script call, `replayGroup` calls sent before awaiting them all;
 * - folded: `hot.apply(foldEvents(chunk))` per `chunkRows` raw events (the ingest write path).
 */
async function replay(ctx: Ctx, method: ReplayResult['method'], expected: Expected, sourceEvents: number): Promise<ReplayResult> {
  const { p } = ctx;
  const copy: SourceRef = { kind: 'campaign', id: `${SOURCE.id}-replay-${method}` };
  const hot = new RedisHotIndex(ctx.redis, { namespace: ctx.ns });
  const limit = method === 'one-by-one' && p.replayEvents < sourceEvents ? p.replayEvents : undefined;
  const description = {
    'one-by-one': 'raw events one by one: await hot.apply(foldEvents([e])) per event',
    pipelined: `raw events, one per script call, ${fmt(p.replayGroup)} calls in flight`,
    folded: `raw events folded per ${fmt(p.chunkRows)}: hot.apply(foldEvents(chunk)) (the ingest write path)`,
  }[method];
  console.log(`\nreplay ${method}: ${description}${limit ? `; the first ${fmt(limit)} of ${fmt(sourceEvents)} events, time extrapolated` : ''}`);
  let events = 0;
  let calls = 0;
  let chWait = 0;
  let applySeconds = 0;
  let pending: InteractionEvent[] = [];
  const end = startPhase();
  const t0 = performance.now();
  const it = rawEvents(ctx, copy, limit);
  for (;;) {
    const tw = performance.now();
    const r = await it.next();
    chWait += (performance.now() - tw) / 1000;
    if (r.done) break;
    const ta = performance.now();
    if (method === 'one-by-one') {
      for (const e of r.value) await hot.apply(foldEvents([e]));
      calls += r.value.length;
    } else if (method === 'pipelined') {
      for (let i = 0; i < r.value.length; i += p.replayGroup) {
        await Promise.all(r.value.slice(i, i + p.replayGroup).map((e) => hot.apply(foldEvents([e]))));
      }
      calls += r.value.length;
    } else {
      pending.push(...r.value);
      while (pending.length >= p.chunkRows) {
        await hot.apply(foldEvents(pending.slice(0, p.chunkRows)));
        pending = pending.slice(p.chunkRows);
        calls++;
      }
    }
    applySeconds += (performance.now() - ta) / 1000;
    events += r.value.length;
    ctx.signal.throwIfAborted();
  }
  if (pending.length) {
    const ta = performance.now();
    await hot.apply(foldEvents(pending));
    applySeconds += (performance.now() - ta) / 1000;
    calls++;
  }
  const seconds = (performance.now() - t0) / 1000;
  const usage = end();
  const check = limit === undefined ? (await checkState(hot, copy, expected)).check : undefined;
  // The copy's keys would otherwise count in the memory of everything measured afterwards.
  await hot.dropSource(copy);
  return {
    method,
    description,
    events,
    sourceEvents,
    redisCalls: calls,
    seconds: round(seconds, 3),
    eventsPerSecond: Math.round(events / seconds),
    secondsForAll: round(seconds * (sourceEvents / events), 2),
    extrapolated: events < sourceEvents,
    clickhouseWaitSeconds: round(chWait, 3),
    applySeconds: round(applySeconds, 3),
    ...(check && { check }),
    ...usage,
  };
}

// ---- ingest while a restore runs -----------------------------------------------------------

/**
 * Publishes `ingestEvents` events of 20 other sources (campaign ids renamed from `c<k>` to
 * `o<k>`, so none is the benchmark's source) by core publish, as bench/ingest.ts does, and waits
 * until the stream holds them.
 */
async function prefill(ctx: Ctx, phase: number): Promise<{ seconds: number; eventsPerSecond: number }> {
  const { p, nc, jsm } = ctx;
  const names = natsNames(ctx.ns);
  await ensureStreams(jsm, {
    namespace: ctx.ns,
    dedupWindowMs: ENGINE_DEFAULTS.dedupWindowMs,
    maxAgeMs: ENGINE_DEFAULTS.streamMaxAgeMs,
    ackWaitMs: ENGINE_DEFAULTS.ackWaitMs,
    // What engine.start() sets: the same consumer is used unchanged.
    maxAckPending: ENGINE_DEFAULTS.maxInflight,
  });
  const t0 = performance.now();
  let n = 0;
  const idPrefix = `${ctx.ns.replaceAll('_', '-')}-i${phase}`;
  for (const e of generateEvents({
    count: p.ingestEvents, campaigns: 20, users: 200_000, variants: 2, canvasShare: 0.2, seed: p.seed + 1 + phase, idPrefix,
  })) {
    if (e.campaignId !== undefined) e.campaignId = `o${e.campaignId.slice(1)}`;
    const h = natsHeaders();
    h.set('Nats-Msg-Id', e.id);
    nc.publish(`${names.subjectPrefix}${e.type}`, JSON.stringify(e), { headers: h });
    if (++n % PREFILL_FLUSH_EVERY === 0) {
      await nc.flush();
      ctx.signal.throwIfAborted();
    }
  }
  await nc.flush();
  ctx.published += n;
  await until(ctx, 'stream pre-fill', 100, async () => {
    const held = (await jsm.streams.info(names.stream)).state.messages;
    if (held > ctx.published) throw new Error(`stream holds ${held} messages, more than the ${ctx.published} published`);
    return { done: held === ctx.published, progress: held };
  });
  const seconds = (performance.now() - t0) / 1000;
  return { seconds: round(seconds, 3), eventsPerSecond: Math.round(n / seconds) };
}

/**
 * A fresh tierstream (role engine, ENGINE_DEFAULTS) drains the pre-filled events. Once it has
 * acknowledged a warm-up share, the window starts; with `withRestore` the same process then
 * restores the (expired) benchmark source, and the window is the restore's run.
 */
async function ingestPhase(ctx: Ctx, withRestore: boolean, expected: Expected, phase: number): Promise<IngestResult> {
  const { p } = ctx;
  const label = withRestore ? 'with a restore running' : 'without restore';
  console.log(`\ningest ${label}: pre-filling ${fmt(p.ingestEvents)} events of 20 other campaigns`);
  const pre = await prefill(ctx, phase);
  console.log(`  pre-fill: ${pre.seconds.toFixed(2)} s (${fmt(pre.eventsPerSecond)} events/s, core publish)`);
  const ts = await createTierstream(ctx.config, { log: pino({ level: 'warn', base: { ns: ctx.ns } }) });
  try {
    const engine = ts.engine!;
    let failure: unknown;
    engine.done.catch((err) => (failure = err));
    const acked = async () => (await ts.metrics.eventsIngested.get()).values.reduce((s, v) => s + v.value, 0);
    const warmup = Math.min(20_000, Math.floor(p.ingestEvents / 10));
    const N = p.ingestEvents;

    type Mark = { t: number; n: number; cpu: NodeJS.CpuUsage; services: CpuSnapshot };
    const mark = async (): Promise<Mark> => ({ t: performance.now(), n: await acked(), cpu: process.cpuUsage(), services: serviceCpu() });
    const windowOf = (a: Mark, b: Mark): IngestWindow => {
      const seconds = (b.t - a.t) / 1000;
      return {
        events: b.n - a.n,
        seconds: round(seconds, 3),
        eventsPerSecond: Math.round((b.n - a.n) / seconds),
        processCpuSeconds: round((b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system) / 1e6, 2),
        serviceCpuSeconds: cpuDelta(a.services, b.services),
      };
    };

    let start: Mark | undefined;
    let ingestDone: Mark | undefined;
    let restoreEnd: Mark | undefined;
    let restoreDone: Promise<void> | undefined;
    let restoreFailure: unknown;
    const end = startPhase();
    const t0 = performance.now();
    await engine.start();
    await until(ctx, `ingest ${label}`, INGEST_POLL_MS, async () => {
      if (failure) throw failure;
      if (restoreFailure) throw restoreFailure;
      const n = await acked();
      if (!start && n >= warmup) {
        start = await mark();
        if (withRestore) {
          restoreDone = (async () => {
            const { started } = await ts.tiers.restore(SOURCE, 'bench: restore during ingest');
            if (!started) throw new Error('restore during ingest did not start (the source was not expired)');
            await ts.tiers.settled();
            restoreEnd = await mark();
          })().catch((err) => {
            restoreFailure = err;
          });
        }
      }
      if (n >= N && !ingestDone) ingestDone = await mark();
      return { done: n >= N && (!withRestore || restoreEnd !== undefined), progress: n };
    });
    const drained = ingestDone!;
    const seconds = (drained.t - t0) / 1000;
    const usage = end();
    await restoreDone;
    if (!start) throw new Error('ingest never reached its warm-up mark');

    const deadLetters = (await ts.metrics.deadLetters.get()).values.reduce((s, v) => s + v.value, 0);
    // Acks are fire-and-forget: wait, outside the timed part, until the server has taken them all.
    const names = natsNames(ctx.ns);
    await until(ctx, 'server-side acks', 50, async () => {
      const info = await ctx.jsm.consumers.info(names.stream, names.consumer);
      return { done: info.num_pending === 0 && info.num_ack_pending === 0, progress: info.ack_floor.stream_seq };
    });

    const result: IngestResult = {
      withRestore,
      events: N,
      prefill: pre,
      seconds: round(seconds, 3),
      eventsPerSecond: Math.round(N / seconds),
      warmupEvents: start.n,
      window: windowOf(start, restoreEnd && restoreEnd.t < drained.t ? restoreEnd : drained),
      deadLetters,
      ...usage,
    };
    if (withRestore && restoreEnd) {
      const rec = await ts.registry.get(SOURCE);
      if (rec?.tier !== 'hot') throw new Error(`after the restore during ingest the source is ${rec?.tier ?? 'unknown'}, not hot`);
      result.restoreSeconds = round((restoreEnd.t - start.t) / 1000, 3);
      result.backlogLeftAtRestoreEnd = N - restoreEnd.n;
      if (restoreEnd.t < drained.t) result.afterRestore = windowOf(restoreEnd, drained);
      result.restoreCheck = (await checkState(ts.hot, SOURCE, expected)).check;
    }
    return result;
  } finally {
    await ts.close();
  }
}


// ---- cleanup (as bench/ingest.ts) ----------------------------------------------------------




// ---- output --------------------------------------------------------------------------------

interface Summary {
  restoreSeconds: number;
  demoteSeconds: number;
  sourceMiB: number;
  freedShareByKeys: number;
  freedShareByUsedMemory: number;
  usedMemoryBeforeMiB: number;
  usedMemoryAfterMiB: number;
  ingestWithoutRestore: number;
  ingestDuringRestore: number;
  ingestRatio: number;
  restoreSecondsDuringIngest: number | undefined;
}

function summarize(cycles: Cycle[], ingestRuns: IngestResult[]): Summary {
  const med = (f: (c: Cycle) => number) => median(cycles.map(f));
  const without = ingestRuns.find((r) => !r.withRestore)!;
  const during = ingestRuns.find((r) => r.withRestore)!;
  return {
    restoreSeconds: round(med((c) => c.restore.seconds), 3),
    demoteSeconds: round(med((c) => c.demotion.seconds), 4),
    sourceMiB: round(med((c) => c.memoryBefore.source.bytes) / MiB, 1),
    freedShareByKeys: round(med((c) => c.freedShareByKeys), 5),
    freedShareByUsedMemory: round(med((c) => c.freedShareByUsedMemory), 4),
    usedMemoryBeforeMiB: round(med((c) => c.memoryBefore.redis.usedMemory) / MiB, 1),
    usedMemoryAfterMiB: round(med((c) => c.memoryAfter.redis.usedMemory) / MiB, 1),
    ingestWithoutRestore: without.window.eventsPerSecond,
    ingestDuringRestore: during.window.eventsPerSecond,
    ingestRatio: round(during.window.eventsPerSecond / without.window.eventsPerSecond, 3),
    restoreSecondsDuringIngest: during.restoreSeconds,
  };
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const mib = (bytes: number) => (bytes / MiB).toFixed(1);
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const fmtCpu = (s: Record<string, number>) => Object.entries(s).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ') || 'not readable';
const met = (ok: boolean) => (ok ? 'met' : 'NOT met');

function usageLine(u: PhaseUsage): string {
  const main = u.mainThread ? `, main thread on CPU ${u.mainThread.onCpuSeconds.toFixed(2)} s and waiting for a core ${u.mainThread.waitingSeconds.toFixed(2)} s` : '';
  const dirty = (u.otherCpuSeconds ?? 0) > OTHER_CPU_NOISE_SECONDS ? `  <-- other processes used the CPUs: not a clean measurement` : '';
  return `  peak RSS ${u.peakRssMiB} MiB; this process CPU ${u.processCpuSeconds.toFixed(2)} s, event loop busy ${(u.eventLoopUtilization * 100).toFixed(0)}%${main}; ` +
    `services CPU: ${fmtCpu(u.serviceCpuSeconds)}${u.otherCpuSeconds !== undefined ? `; anything else ${u.otherCpuSeconds.toFixed(2)} s` : ''}${dirty}`;
}

function checkLine(c: Check): string {
  return `ZCARD any ${fmt(c.anyCard)} (distinct users ${fmt(c.distinctUsers)}), ${c.indexes} indexes, ${fmt(c.members)} members: ` +
    (c.ok ? 'equal to the fold of the generated events' : `DIFFERS in ${c.differing.join(', ') || 'ZCARD'}`);
}

function printCycle(c: Cycle, runs: number, usedMemoryEmpty: number): void {
  const m = c.memoryBefore;
  console.log(`\ncycle ${c.run}/${runs}`);
  console.log(`  hot before demotion: ${checkLine(c.before)}`);
  const added = m.redis.usedMemory - usedMemoryEmpty;
  console.log(`  source in Redis: ${m.source.keys} keys, ${fmt(m.source.members)} members, ${mib(m.source.bytes)} MiB by MEMORY USAGE ` +
    `(${(m.source.bytes / m.source.members).toFixed(1)} bytes/member); Redis used_memory ${mib(m.redis.usedMemory)} MiB, ` +
    `${mib(added)} MiB above the setup's level with the source empty (${(added / m.source.members).toFixed(1)} bytes/member); RSS ${mib(m.redis.usedMemoryRss)} MiB`);
  console.log(`  demotion: ${c.demotion.seconds.toFixed(4)} s to expired, ${c.demotion.keysRemoved} keys unlinked; Redis freed them in the background ` +
    `within ${c.demotion.lazyFreeMs} ms more`);
  console.log(`  after demotion: source ${c.memoryAfter.source.keys} key(s), ${c.memoryAfter.source.bytes} bytes; used_memory ${mib(c.memoryAfter.redis.usedMemory)} MiB, ` +
    `RSS ${mib(c.memoryAfter.redis.usedMemoryRss)} MiB; freed ${pct(c.freedShareByKeys)} by MEMORY USAGE of the source's keys, ${pct(c.freedShareByUsedMemory)} of what it added to used_memory`);
  console.log(`  restore: ${c.restore.seconds.toFixed(3)} s to hot, ${fmt(c.restore.aggregateRows)} aggregate rows; ${checkLine(c.restore.check)}; ` +
    `equal to the state before demotion: ${c.equalsBeforeDemotion ? 'yes' : 'NO'}`);
  console.log(`  restore stages: ${Object.entries(c.restore.stages).map(([k, v]) => `${k} ${v.calls}x ${v.seconds.toFixed(2)} s`).join(', ')}; ` +
    `${fmt(c.restore.membersSent)} (user, time) pairs sent for ${fmt(c.restore.check.members)} members`);
  console.log(usageLine(c.restore));
}

function printReplay(r: ReplayResult): void {
  console.log(`  ${fmt(r.events)} events, ${fmt(r.redisCalls)} hot.apply calls in ${r.seconds.toFixed(2)} s = ${fmt(r.eventsPerSecond)} events/s` +
    `${r.extrapolated ? `; all ${fmt(r.sourceEvents)} would take ${r.secondsForAll.toFixed(1)} s (linear extrapolation)` : ''}`);
  console.log(`  waiting for ClickHouse ${r.clickhouseWaitSeconds.toFixed(2)} s, applying to Redis ${r.applySeconds.toFixed(2)} s` +
    (r.check ? `; ${checkLine(r.check)}` : ''));
  console.log(usageLine(r));
}

function printIngest(r: IngestResult): void {
  console.log(`  ${fmt(r.events)} events in ${r.seconds.toFixed(2)} s = ${fmt(r.eventsPerSecond)} events/s from engine.start() (warm-up mark at ${fmt(r.warmupEvents)} acknowledged)`);
  if (r.withRestore) {
    console.log(`  restore (same process) took ${r.restoreSeconds?.toFixed(3)} s; while both ran (${r.window.seconds.toFixed(2)} s): ${fmt(r.window.events)} events = ` +
      `${fmt(r.window.eventsPerSecond)} events/s; services CPU ${fmtCpu(r.window.serviceCpuSeconds)}; this process ${r.window.processCpuSeconds.toFixed(2)} s; ` +
      (r.backlogLeftAtRestoreEnd === 0 ? 'the backlog ran out before the restore ended' : `${fmt(r.backlogLeftAtRestoreEnd ?? 0)} events were left when the restore ended`));
    if (r.afterRestore) console.log(`  after the restore: ${fmt(r.afterRestore.events)} events in ${r.afterRestore.seconds.toFixed(2)} s = ${fmt(r.afterRestore.eventsPerSecond)} events/s`);
    if (r.restoreCheck) console.log(`  restored source: ${checkLine(r.restoreCheck)}`);
  } else {
    console.log(`  warm-up mark to drained: ${fmt(r.window.events)} events in ${r.window.seconds.toFixed(2)} s = ${fmt(r.window.eventsPerSecond)} events/s; ` +
      `services CPU ${fmtCpu(r.window.serviceCpuSeconds)}; this process ${r.window.processCpuSeconds.toFixed(2)} s`);
  }
  console.log(`  dead letters ${r.deadLetters}`);
  console.log(usageLine(r));
}

function printSummary(ctx: Ctx, build: RestoreResult, s: Summary, replays: ReplayResult[], ingestRuns: IngestResult[]): void {
  const { p } = ctx;
  const runs = p.runs > 1 ? ` (median of ${p.runs})` : '';
  console.log(`\nsummary: ${fmt(p.events)} events, ${fmt(build.check.distinctUsers)} users, ${fmt(build.aggregateRows)} aggregate rows, ` +
    `${fmt(build.check.members)} hot index members\n`);
  const during = ingestRuns.find((r) => r.withRestore)!;
  console.log(table(['measure', 'result', 'target', ''], [
    [`restore to hot${runs}`, `${s.restoreSeconds.toFixed(3)} s`, `<= ${TARGET_RESTORE_SECONDS} s`, met(s.restoreSeconds <= TARGET_RESTORE_SECONDS)],
    [`demotion to expired${runs}`, `${s.demoteSeconds.toFixed(4)} s`, `<= ${TARGET_DEMOTE_SECONDS} s`, met(s.demoteSeconds <= TARGET_DEMOTE_SECONDS)],
    [`source's Redis memory (MEMORY USAGE)${runs}`, `${s.sourceMiB.toFixed(1)} MiB`, '-', ''],
    [`used_memory before -> after demotion${runs}`, `${s.usedMemoryBeforeMiB.toFixed(1)} -> ${s.usedMemoryAfterMiB.toFixed(1)} MiB`, '-', ''],
    [`freed, share of what the source added to used_memory${runs}`, pct(s.freedShareByUsedMemory), `>= ${TARGET_FREED_SHARE * 100}%`, met(s.freedShareByUsedMemory >= TARGET_FREED_SHARE)],
    [`freed, by MEMORY USAGE of the source's keys${runs}`, pct(s.freedShareByKeys), `>= ${TARGET_FREED_SHARE * 100}%`, met(s.freedShareByKeys >= TARGET_FREED_SHARE)],
    ['ingest without restore', `${fmt(s.ingestWithoutRestore)} events/s`, '-', ''],
    ['ingest while a restore runs', `${fmt(s.ingestDuringRestore)} events/s (x${s.ingestRatio.toFixed(2)})`, '-', ''],
    ['restore while ingest runs', `${(s.restoreSecondsDuringIngest ?? NaN).toFixed(3)} s`, `<= ${TARGET_RESTORE_SECONDS} s`, met((s.restoreSecondsDuringIngest ?? Infinity) <= TARGET_RESTORE_SECONDS)],
  ]));
  if (during.window.seconds < 0.5 * (during.restoreSeconds ?? 0)) {
    console.log('warning: ingest ran for less than half of the restore; raise --ingest-events for a longer overlap');
  }

  console.log(`\nrebuilding the source from ClickHouse, side by side:\n`);
  console.log(table(['method', 'read from ClickHouse', 'hot.apply calls', 'seconds', 'seconds for all', 'x restore'], [
    [`aggregated restore (tier manager)${runs}`, `${fmt(build.aggregateRows)} aggregate rows`, build.stages['hot.apply'].calls, s.restoreSeconds.toFixed(2), s.restoreSeconds.toFixed(2), '1.0'],
    ...replays.map((r) => [
      r.description,
      `${fmt(r.events)} events`,
      r.redisCalls,
      r.seconds.toFixed(2),
      `${r.secondsForAll.toFixed(1)}${r.extrapolated ? ' (extrapolated)' : ''}`,
      (r.secondsForAll / s.restoreSeconds).toFixed(1),
    ]),
  ]));
}



