/**
 * Hot index benchmark (issue 23, "Benchmark"): one campaign S1 sent to N users (30% clicked),
 * written straight into Redis by RedisHotIndex.apply, at each of `--sizes`. Per size, in one
 * run: bytes per entry and per user (MEMORY USAGE SAMPLES 0 of every key of the namespace)
 * beside the previous sorted-set layout; count exact and with "estimate"; a full audience walk;
 * check of 100 users open loop idle and during walks; Redis SLOWLOG per phase, tierstream's
 * scripts apart from the benchmark's own commands. Lookups go over HTTP to a tierstream of
 * role api (main.ts, its own process); the open loop runs in a child process of its own.
 * Method and numbers: bench/README.md, "Hot index".
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { connect } from 'nats';
import type { Redis } from 'ioredis';
import { configFromEnv } from '../../config.js';
import { ClickHouseHistory, createRedis } from '../../storage/index.js';
import { rng } from '../../scripts/generate.js';
import { machineBusy, round, table } from '../measure.js';
import { cleanupNamespace, redisKeys, writeResult, type BenchNamespace } from '../namespace.js';
import { runOpenLoop, type OpenLoopResult } from '../open-loop.js';
import { parseSizes } from '../tiers/sizes.js';
import { fmt } from '../tiers/format.js';
import type { Benchmark } from '../types.js';
import { freePort, startTierstream, type TierstreamProcess } from '../lookups/tierstream-process.js';
import { checkAnswers, type Agreement, type Bodies } from '../lookups/hot-data.js';
import { barChart, writeChart } from '../svg.js';
import { FILTER, SOURCE, namespaceMemory, writeCompact, writeReserved, writeSortedSets, type Memory } from './data.js';
import { countEstimate, countExact, walk, walkInProcess, type CountResult, type EstimateResult, type WalkResult } from './lookups.js';
import { formatPhase, longestTierstreamCall, slowlogSession, type PhaseSlowlog } from './slowlog.js';

/** The issue's targets at 1M users, reported, never asserted. */
export const TARGETS = { bytesPerEntry: 16, exactCountMs: 1_000, walkSeconds: 5, checkP99FloorMs: 10, checkP99Ratio: 2, callMs: 2 };

interface Params {
  clickPct: number; rate: number; duration: number; warmup: number; limit: number; idsPerCheck: number; bodies: number;
  slowlogUs: number; countRuns: number; estimateRuns: number; seed: number; compareMax: number;
}

export const hot: Benchmark = {
  name: 'hot',
  question:
    'What does the compact hot index (listpack hash buckets, linear hashing) cost for one campaign S1 sent to N users (30% clicked)? ' +
    'Bytes per entry and per user beside the previous sorted-set layout (target <= 16 B/entry at 1M); "sent S1 and not clicked S1": ' +
    'count exact (target < 1 s at 1M) and estimate with its margin, a full audience walk of pages of 10,000 (target < 5 s for ~700k ' +
    'users), check of 100 ids open loop at 200/s idle and during walks (target p99 <= max(10 ms, 2x idle)); SLOWLOG per phase ' +
    '(target: no tierstream Redis call over 2 ms).',
  options: {
    'click-pct': { default: 30, min: 0, description: 'percent of users with a click after their send' },
    rate: { default: 200, min: 1, description: 'open loop: checks/s offered' },
    duration: { default: 10, min: 1, description: 'open loop: seconds measured per phase' },
    warmup: { default: 2, min: 0, description: 'open loop: seconds at the same rate first, not measured' },
    limit: { default: 10_000, min: 1, description: 'audience page size (the API allows up to 10,000)' },
    'ids-per-check': { default: 100, min: 1, description: 'user ids per check request' },
    bodies: { default: 200, min: 1, description: 'distinct check bodies (random ids), sent in turn' },
    'slowlog-us': { default: 500, min: 0, description: 'slowlog-log-slower-than during the run, µs (restored after)' },
    'count-runs': { default: 3, min: 1, description: 'exact counts timed (median reported)' },
    'estimate-runs': { default: 5, min: 1, description: 'estimates timed (median reported)' },
    seed: { default: 1, min: 0, description: 'PRNG seed of data and check bodies' },
    'compare-max': { default: 1_000_000, min: 0, description: 'largest size also written in the previous layout and into a reserved source (10M sorted sets take ~2.3 GB)' },
  },
  textOptions: { sizes: { description: 'users of S1, comma separated (default 100k,1M; 10M takes minutes)' } },
  async run(raw, signal, _lists, text) {
    const p: Params = {
      clickPct: raw['click-pct']!, rate: raw.rate!, duration: raw.duration!, warmup: raw.warmup!, limit: raw.limit!, idsPerCheck: raw['ids-per-check']!,
      bodies: raw.bodies!, slowlogUs: raw['slowlog-us']!, countRuns: raw['count-runs']!, estimateRuns: raw['estimate-runs']!, seed: raw.seed!,
      compareMax: raw['compare-max']!,
    };
    if (p.clickPct > 100) throw new RangeError('--click-pct must be at most 100');
    if (p.limit > 10_000) throw new RangeError('--limit must be at most 10000 (the API limit)');
    const sizes = parseSizes(text.sizes ?? '100k,1M');
    console.log(`sizes: ${sizes.map(fmt).join(', ')} users`);
    await runHot(p, sizes, signal);
  },
};

export interface SizeResult {
  users: number;
  clicks: number;
  entries: number;
  expectedMatches: number;
  write: { seconds: number; usersPerSecond: number; metaUsers: number };
  memory: { compact: Memory; sortedSets: Memory | null; ratio: number | null };
  count: CountResult;
  estimate: EstimateResult & { error: number; withinMargin: boolean };
  walk: WalkResult;
  check: {
    idle: OpenLoopResult; duringWalk: OpenLoopResult; p99Ratio: number; walksDuring: { complete: number; pages: number; users: number; pageMsP99: number };
    /** Walks by a Lookup in the benchmark's process: the API process serving checks does no walk. */
    duringWalkElsewhere: OpenLoopResult & { walks: { complete: number; pages: number; users: number; pageMsP99: number } };
  };
  /** apply of the same folds into a source reserved for N users first (no splits). */
  writeReserved: { seconds: number };
  answers: { beforePhases: Agreement; afterPhases: Agreement };
  slowlog: PhaseSlowlog[];
  longestTierstreamCall: { us: number; script: string; phase: string } | null;
  targets: Record<string, { value: number; target: string; met: boolean } | null>;
}

function bodiesFor(users: number, p: Params): Bodies {
  const rand = rng(p.seed + 1);
  const ids: string[][] = [];
  for (let b = 0; b < p.bodies; b++) {
    const set = new Set<string>();
    while (set.size < Math.min(p.idsPerCheck, users)) set.add(`u${Math.floor(rand() * users)}`);
    ids.push([...set]);
  }
  return { ids, bodies: ids.map((userIds) => JSON.stringify({ filter: FILTER, userIds })) };
}

async function oneSize(p: Params, users: number, signal: AbortSignal): Promise<SizeResult> {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const ns2 = `${ns}z`;
  const ns3 = `${ns}r`;
  const apiKey = randomBytes(16).toString('hex');
  const env = { TIERSTREAM_NAMESPACE: ns, TIERSTREAM_RATE_LIMIT: '10000000', TIERSTREAM_API_KEYS: `${apiKey}:lookup;${apiKey}-admin:admin` };
  const config = configFromEnv({ ...process.env, ...env });
  const nc = await connect({ servers: config.natsServers, name: `bench-${ns}` });
  const ctx: BenchNamespace = {
    ns, nc, signal, jsm: await nc.jetstreamManager(),
    history: new ClickHouseHistory({ url: config.clickhouseUrl, cluster: config.clickhouseCluster, database: ns }),
    redis: createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes }),
  };
  const redis = ctx.redis as Redis;
  if (config.redisClusterNodes?.length) throw new Error('the hot benchmark reads SLOWLOG of one standalone Redis; unset the cluster nodes');
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` };
  let api: TierstreamProcess | undefined;
  const session = await slowlogSession(redis, p.slowlogUs, [ns, ns2, ns3]);
  const phases: PhaseSlowlog[] = [];
  const measure = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const w = await session.phase(name);
    const out = await work();
    const s = await w.stop();
    phases.push(s);
    console.log(`  SLOWLOG ${name}: ${formatPhase(s)}`);
    return out;
  };
  try {
    console.log(`\nsize ${fmt(users)} users: namespace ${ns} (previous layout: ${ns2})`);
    api = await startTierstream(env, await freePort(), signal, { role: 'api' });
    console.log(`  tierstream api ready in ${api.readySeconds.toFixed(1)} s (pid ${api.pids.api})`);

    // Lookups naming an unknown source answer 404: the source is declared first, as a sender would.
    const declared = await fetch(`${api.baseUrl}/v1/campaigns/${SOURCE.id}`, {
      method: 'PUT', headers: { ...headers, authorization: `Bearer ${apiKey}-admin` }, body: JSON.stringify({ status: 'active' }),
    });
    if (declared.status !== 200) throw new Error(`declaring ${SOURCE.id} answered ${declared.status}: ${await declared.text()}`);
    const written = await measure('write (RedisHotIndex.apply)', () => writeCompact(redis, ns, users, p.clickPct, p.seed, signal));
    console.log(`  wrote ${fmt(users)} users (${fmt(written.clicks)} clicked, ${fmt(written.entries)} entries) in ${written.seconds} s of apply; meta n = ${fmt(written.metaUsers)}`);
    if (written.metaUsers !== users) throw new Error(`the meta counts ${written.metaUsers} users, not ${users}`);
    const compare = users <= p.compareMax;
    const reserved = compare ? await measure('write into a reserved source (no splits)', () => writeReserved(redis, ns3, users, written.folds)) : { seconds: NaN };
    if (compare) console.log(`  the same folds into a source reserved for ${fmt(users)} users (no splits): ${reserved.seconds} s of apply`);
    const compact = await measure('memory (bench: SCAN + MEMORY USAGE of every key)', () => namespaceMemory(redis, ns, users, written.entries));
    const sortedSets = !compare ? null : await measure('previous layout (bench: ZADD + MEMORY USAGE)', async () => {
      await writeSortedSets(redis, ns2, users, written.folds);
      const m = await namespaceMemory(redis, ns2, users, written.entries);
      await redisKeys({ ...ctx, ns: ns2 }, true);
      return m;
    });
    console.log(`  bytes/entry: compact ${compact.bytesPerEntry} (${compact.keys} keys, ${JSON.stringify(compact.encodings)}), ` +
      (sortedSets ? `sorted sets ${sortedSets.bytesPerEntry} (${sortedSets.keys} keys, ${JSON.stringify(sortedSets.encodings)}); per user ${compact.bytesPerUser} vs ${sortedSets.bytesPerUser}` : `per user ${compact.bytesPerUser}; previous layout not written (--compare-max)`));

    const pool = bodiesFor(users, p);
    const checkUrl = `${api.baseUrl}/v1/retargeting/check`;
    const beforePhases = await checkAnswers(checkUrl, headers, pool, written.clicked);
    if (beforePhases.correct !== beforePhases.compared) throw new Error(`checks answered wrongly: ${JSON.stringify(beforePhases)}`);

    const expectedMatches = users - written.clicks;
    const count = await measure('count exact', () => countExact(api!.baseUrl, headers, p.countRuns));
    console.log(`  count exact: ${fmt(count.count)} (expected ${fmt(expectedMatches)}) in ${count.runsMs.join(', ')} ms, median ${count.medianMs} ms` +
      (count.timedOut ? `; ${count.timedOut} answered 503 lookup_timeout` : ''));
    if (!Number.isNaN(count.count) && count.count !== expectedMatches) throw new Error(`count ${count.count} != expected ${expectedMatches}`);
    const est = await measure('count estimate', () => countEstimate(api!.baseUrl, headers, p.estimateRuns));
    const estimate = { ...est, error: est.count - expectedMatches, withinMargin: Math.abs(est.count - expectedMatches) <= est.margin };
    console.log(`  estimate: ${fmt(est.count)} ± ${fmt(est.margin)} (exact ${fmt(expectedMatches)}, error ${estimate.error}) in median ${est.medianMs} ms`);

    const w = await measure('audience walk', () => walk(api!.baseUrl, headers, p.limit));
    console.log(`  walk: ${fmt(w.users)} users in ${w.pages} pages, ${w.seconds} s (${fmt(w.usersPerSecond)} users/s); page p50 ${w.pageMs.p50} ms, p99 ${w.pageMs.p99} ms; duplicates ${w.duplicates}`);
    if (w.users !== expectedMatches || w.duplicates) throw new Error(`walk returned ${w.users} users (${w.duplicates} duplicates), expected ${expectedMatches}`);

    const open = (events: Parameters<typeof runOpenLoop>[1]) => runOpenLoop({
      url: checkUrl, headers, bodies: pool.bodies, rate: p.rate, durationSeconds: p.duration, warmupSeconds: p.warmup, sockets: 256, timeoutMs: 10_000,
    }, events);
    const idle = await measure('check idle (open loop)', () => open({ signal }));
    console.log(`  check idle ${p.rate}/s: p50 ${idle.latencyMs.p50} ms, p99 ${idle.latencyMs.p99} ms (${idle.answered}/${idle.requests}, ${idle.non2xx} non-2xx)`);

    // Walks one after the other from the open loop's window start to its end (the last is cut short):
    // over HTTP by the API process that also serves the checks, then by a Lookup in this process.
    type During = { complete: number; pages: number; users: number; pageMsP99: number };
    const during = (name: string, walker: (stop: () => boolean) => Promise<WalkResult & { complete: boolean }>) => {
      const walks: During = { complete: 0, pages: 0, users: 0, pageMsP99: 0 };
      return measure(name, async () => {
        let inWindow = false;
        let walking: Promise<void> | undefined;
        const r = await open({
          signal,
          onWindow: (edge) => {
            inWindow = edge === 'start';
            if (edge !== 'start') return;
            walking = (async () => {
              while (inWindow) {
                const one = await walker(() => !inWindow);
                walks.complete += one.complete ? 1 : 0;
                walks.pages += one.pages;
                walks.users += one.users;
                walks.pageMsP99 = Math.max(walks.pageMsP99, one.pageMs.p99);
              }
            })();
          },
        });
        inWindow = false;
        await walking;
        return { ...r, walks };
      });
    };
    const report = (what: string, r: OpenLoopResult & { walks: During }) => console.log(`  check during ${what}: p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms ` +
      `(${round(r.latencyMs.p99 / idle.latencyMs.p99, 2)}x idle); ${r.walks.complete} complete walks, ${r.walks.pages} pages meanwhile (page p99 up to ${round(r.walks.pageMsP99, 1)} ms)`);
    const duringWalk = await during('check during walks (open loop + walks over HTTP, same API process)', (stop) => walk(api!.baseUrl, headers, p.limit, stop));
    report('walks by the API process', duringWalk);
    const duringOther = await during('check during walks by another process (open loop + in-process Lookup walks)', (stop) => walkInProcess(redis, ns, p.limit, stop));
    report('walks by another process', duringOther);
    const p99Ratio = round(duringWalk.latencyMs.p99 / idle.latencyMs.p99, 2);
    const walksDuring = duringWalk.walks;
    const afterPhases = await checkAnswers(checkUrl, headers, pool, written.clicked);

    const longest = longestTierstreamCall(phases);
    // The issue states bytes at 1M and 10M, the count and the walk (~700k matching users) at 1M.
    const is1M = users === 1_000_000;
    const atLeast1M = users >= 1_000_000;
    const t = (value: number, target: string, met: boolean) => ({ value, target, met });
    const checkLimit = Math.max(TARGETS.checkP99FloorMs, TARGETS.checkP99Ratio * idle.latencyMs.p99);
    return {
      users, clicks: written.clicks, entries: written.entries, expectedMatches,
      write: { seconds: written.seconds, usersPerSecond: Math.round(users / written.seconds), metaUsers: written.metaUsers },
      memory: { compact, sortedSets, ratio: sortedSets && round(sortedSets.bytes / compact.bytes, 2) },
      count, estimate, walk: w,
      check: { idle, duringWalk, p99Ratio, walksDuring, duringWalkElsewhere: duringOther },
      writeReserved: reserved,
      answers: { beforePhases, afterPhases },
      slowlog: phases,
      longestTierstreamCall: longest,
      targets: {
        bytesPerEntry: atLeast1M ? t(compact.bytesPerEntry, `<= ${TARGETS.bytesPerEntry}`, compact.bytesPerEntry <= TARGETS.bytesPerEntry) : null,
        exactCountMs: is1M ? t(count.medianMs, `< ${TARGETS.exactCountMs}`, !count.timedOut && count.medianMs < TARGETS.exactCountMs) : null,
        walkSeconds: is1M ? t(w.seconds, `< ${TARGETS.walkSeconds}`, w.seconds < TARGETS.walkSeconds) : null,
        checkP99DuringWalkMs: t(duringWalk.latencyMs.p99, `<= ${round(checkLimit, 3)}`, duringWalk.latencyMs.p99 <= checkLimit),
        longestTierstreamCallMs: t(round((longest?.us ?? 0) / 1000, 3), `<= ${TARGETS.callMs}`, (longest?.us ?? 0) <= TARGETS.callMs * 1000),
      },
    };
  } finally {
    await session.restore().catch((err) => console.error(`bench: restoring the slowlog settings failed: ${(err as Error).message}`));
    await cleanupNamespace(ctx, [
      ['tierstream api (SIGTERM)', async () => api?.stop()],
      [`Redis keys ${ns2}:*`, () => redisKeys({ ...ctx, ns: ns2 }, true)],
      [`Redis keys ${ns3}:*`, () => redisKeys({ ...ctx, ns: ns3 }, true)],
    ]);
  }
}

async function runHot(p: Params, sizes: number[], signal: AbortSignal): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  const busy = await machineBusy();
  console.log(`${os.cpus().length} CPUs, load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}` +
    (busy !== undefined && busy > 0.2 ? `; warning: ${(busy * 100).toFixed(0)}% of the CPUs were busy before the start (shared machine): expect outliers` : ''));
  const results: SizeResult[] = [];
  for (const users of sizes) results.push(await oneSize(p, users, signal));
  const ms = (us: number | undefined) => (us === undefined ? '-' : (us / 1000).toFixed(2));
  console.log(`\n${table(
    ['users', 'entries', 'B/entry', 'B/entry zsets', 'B/user', 'count ms', 'estimate ms', 'est. ± margin (err)', 'walk s', 'users/s', 'page p50/p99 ms',
      'check p50/p99 idle', 'check p50/p99 walk', 'x', 'walk elsewhere', 'apply s grow/reserved', 'longest call ms'],
    results.map((r) => [
      fmt(r.users), fmt(r.entries), r.memory.compact.bytesPerEntry, r.memory.sortedSets?.bytesPerEntry ?? '-', r.memory.compact.bytesPerUser,
      r.count.timedOut ? `${r.count.medianMs} (${r.count.timedOut} x 503)` : r.count.medianMs, r.estimate.medianMs, `${fmt(r.estimate.count)} ± ${fmt(r.estimate.margin)} (${r.estimate.error})`, r.walk.seconds, fmt(r.walk.usersPerSecond),
      `${r.walk.pageMs.p50} / ${r.walk.pageMs.p99}`, `${r.check.idle.latencyMs.p50} / ${r.check.idle.latencyMs.p99}`,
      `${r.check.duringWalk.latencyMs.p50} / ${r.check.duringWalk.latencyMs.p99}`, r.check.p99Ratio,
      `${r.check.duringWalkElsewhere.latencyMs.p50} / ${r.check.duringWalkElsewhere.latencyMs.p99}`, `${r.write.seconds} / ${r.writeReserved.seconds}`,
      `${ms(r.longestTierstreamCall?.us)} ${r.longestTierstreamCall?.script ?? ''}`,
    ]),
  )}`);
  console.log(`\n${table(['users', 'target', 'value', 'wanted', 'met'], results.flatMap((r) => Object.entries(r.targets).filter(([, v]) => v).map(([k, v]) => [fmt(r.users), k, v!.value, v!.target, v!.met ? 'met' : 'NOT met'])))}`);
  // A run of one size (10M alone, say) keeps the charts of the last run of several; redraw runs
  // together with `npx tsx bench/charts.ts bench/results/hot-A.json bench/results/hot-B.json`.
  if (results.length > 1) for (const file of drawHot(results)) console.log(`chart written to ${file}`);
  const file = writeResult('hot', startedAt, {
    benchmark: 'hot', question: hot.question, startedAt: startedAt.toISOString(), parameters: p, sizes, targets: TARGETS,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverage: loadAtStart.map((x) => round(x, 2)), cpuBusyBeforeStart: busy, node: process.version },
    filter: FILTER, results,
  });
  console.log(`\nresult written to ${file}`);
}

export function drawHot(results: SizeResult[]): string[] {
  return [
    writeChart('hot-bytes-per-entry', barChart({
      title: 'Hot index: Redis bytes per entry (MEMORY USAGE)', x: 'bytes per entry (user x index)',
      bars: results.flatMap((r) => [
        { label: `${fmt(r.users)} users, compact buckets`, value: r.memory.compact.bytesPerEntry },
        ...(r.memory.sortedSets ? [{ label: `${fmt(r.users)} users, sorted sets (before)`, value: r.memory.sortedSets.bytesPerEntry }] : []),
      ]),
    })),
    writeChart('hot-check-p99', barChart({
      title: 'Check (100 ids) at 200/s, open loop: p99', x: 'ms',
      bars: results.flatMap((r) => [
        { label: `${fmt(r.users)} users, idle`, value: r.check.idle.latencyMs.p99 },
        { label: `${fmt(r.users)} users, walks in the API`, value: r.check.duringWalk.latencyMs.p99 },
        { label: `${fmt(r.users)} users, walks elsewhere`, value: r.check.duringWalkElsewhere.latencyMs.p99 },
      ]),
    })),
    writeChart('hot-lookups', barChart({
      title: 'Count and full audience walk (sent, not clicked)', x: 'ms',
      bars: results.flatMap((r) => [
        { label: `${fmt(r.users)}: count exact`, value: r.count.medianMs },
        { label: `${fmt(r.users)}: estimate`, value: r.estimate.medianMs },
        { label: `${fmt(r.users)}: full walk`, value: r.walk.seconds * 1000 },
      ]),
    })),
  ];
}
