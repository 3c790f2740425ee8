/**
 * Lookups benchmark: POST /v1/retargeting/check with 100 user ids against "sent L1 and not
 * clicked L1" and, side by side, a filter of the new hot leaves (any-message, alias, user-state
 * and canvas variation leaves: new-leaves.ts), over HTTP on loopback, against tierstream as the
 * product runs (main.ts, role all: a supervisor, an engine child and an api child). In one run,
 * in a random namespace removed at the end: (a) a bare Fastify app with the same body schema,
 * (b) tierstream idle, each at its closed-loop maximum and open loop at two fixed rates, and
 * (c) tierstream open loop while its engine drains a backlog published while it was stopped;
 * (b) and (c) once per filter, the two filters' phases of each kind back to back. CPU per check
 * for every process, and the Redis bytes per user of the new indexes. Method and numbers:
 * bench/README.md.
 *
 * This file runs the phases in order; each part has its module here: tierstream-process
 * (spawn, pids, stop), bare-fastify (the ceiling), hot-data (setup, bodies, answers),
 * new-leaves (the second filter, its data and answers, the new indexes' bytes), backlog
 * (publish, consumer progress), phases (one measured phase), process-cpu and report. The load
 * generators are ../http-load.ts (closed loop) and ../open-loop.ts.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { natsNames } from '../../storage/nats/index.js';
import { machineBusy, round } from '../measure.js';
import type { Benchmark } from '../types.js';
import { STALL_MS, cleanupNamespace, machineInfo, writeResult } from '../namespace.js';
import { drawLookups } from '../charts.js';
import { RATE_LIMIT, openContext, type Ctx, type Params } from './context.js';
import { startBareFastify, type BareFastify } from './bare-fastify.js';
import { freePort, startTierstream, type TierstreamProcess } from './tierstream-process.js';
import { FILTER, checkAnswers, requestBodies, writeHotData, type Agreement, type Bodies, type Expected } from './hot-data.js';
import { NEW_LEAVES_FILTER } from './new-leaves.js';
import { backlogEvents, publishBacklog } from './backlog.js';
import { FILTER_NAMES, runPhase, type FilterName, type PhaseResult, type PhaseSpec } from './phases.js';
import { servicePids } from './process-cpu.js';
import { compareFilters, printComparison, printMemory, printPhase, printSummary, summarize } from './report.js';

export const lookups: Benchmark = {
  name: 'lookups',
  question:
    'How fast does POST /v1/retargeting/check (100 user ids, "sent L1 and not clicked L1", 50,000 hot users) answer, against tierstream ' +
    'as npm start runs it? Closed-loop maximum checks/s against a bare Fastify app with the same body schema (target >= 0.5x), and ' +
    'open-loop latency at fixed rates, timed from each request\'s due time: idle (target p99 <= 2 ms at 400/s) and while the engine ' +
    'drains a backlog of >= 1M events (target p99 <= 10 ms at 400/s, draining at >= 10k events/s). CPU per check for every process. ' +
    'Beside it, the same phases with a filter of the new hot leaves (any-message, alias, user-state, canvas variation; issue 26: same budget?), ' +
    'and the Redis bytes per user of the any-message and alias indexes.',
  options: {
    users: { default: 50_000, min: 100, description: 'hot users of campaign L1 (u0..), each with a send' },
    'click-pct': { default: 30, min: 0, description: 'percent of them with a click after their send' },
    'ids-per-check': { default: 100, min: 1, description: 'user ids per check request' },
    bodies: { default: 1_000, min: 1, description: 'distinct request bodies (random ids), sent in turn' },
    connections: { default: 10, min: 1, description: 'closed loop: autocannon connections (one request in flight on each)' },
    'closed-duration': { default: 10, min: 1, description: 'closed loop: seconds measured' },
    'closed-warmup': { default: 3, min: 0, description: 'closed loop: seconds of unmeasured load first' },
    'rate-low': { default: 400, min: 1, description: 'open loop: first offered rate, checks/s (the targets are stated at 400)' },
    'rate-high': { default: 1_000, min: 1, description: 'open loop: second offered rate, checks/s' },
    duration: { default: 12, min: 1, description: 'open loop: seconds measured per phase' },
    warmup: { default: 2, min: 0, description: 'open loop: seconds at the same rate first, not measured' },
    sockets: { default: 1_024, min: 1, description: 'open loop: keep-alive sockets the generator may open' },
    'generator-nice': { default: 0, min: -20, description: 'niceness of both load generators (negative: served first, as a caller on another machine would be)' },
    backlog: { default: 3_000_000, min: 1, description: 'events published while tierstream is stopped, drained during (c) (four 14 s phases with both filters; 1M ran out with two)' },
    'backlog-campaigns': { default: 20, min: 1, description: 'backlog generator: campaigns (c0.., a fifth canvases cv0..)' },
    'backlog-users': { default: 200_000, min: 1, description: 'backlog generator: users' },
    seed: { default: 1, min: 0, description: 'PRNG seed of data, request ids and backlog' },
  },
  textOptions: {
    'check-filters': { description: `filters of the tierstream phases, comma separated: ${FILTER_NAMES.join(', ')} (default ${FILTER_NAMES.join(',')}; existing: "sent L1 and not clicked L1", new: the new hot leaves)` },
  },
  async run(raw, signal, _lists, text) {
    const p: Params = {
      users: raw.users!,
      clickPct: raw['click-pct']!,
      idsPerCheck: raw['ids-per-check']!,
      bodies: raw.bodies!,
      connections: raw.connections!,
      closedDuration: raw['closed-duration']!,
      closedWarmup: raw['closed-warmup']!,
      rateLow: raw['rate-low']!,
      rateHigh: raw['rate-high']!,
      duration: raw.duration!,
      warmup: raw.warmup!,
      sockets: raw.sockets!,
      generatorNice: raw['generator-nice']!,
      backlog: raw.backlog!,
      backlogCampaigns: raw['backlog-campaigns']!,
      backlogUsers: raw['backlog-users']!,
      seed: raw.seed!,
    };
    if (p.clickPct > 100) throw new RangeError('--click-pct must be at most 100');
    if (p.idsPerCheck > 1_000) throw new RangeError('--ids-per-check must be at most 1000 (the API limit)');
    if (p.idsPerCheck > p.users) throw new RangeError('--ids-per-check must be at most --users');
    const filters = (text['check-filters'] ?? FILTER_NAMES.join(',')).split(',').map((f) => f.trim());
    const unknown = filters.filter((f) => !(FILTER_NAMES as readonly string[]).includes(f));
    if (unknown.length || filters.length === 0) throw new RangeError(`--check-filters: expected some of ${FILTER_NAMES.join(',')}, got "${text['check-filters']}"`);
    await runLookups(p, [...new Set(filters)] as FilterName[], signal);
  },
};

const FILTERS: Record<FilterName, object> = { existing: FILTER, new: NEW_LEAVES_FILTER };

async function runLookups(p: Params, filters: FilterName[], signal: AbortSignal): Promise<void> {
  const { ctx, env, config } = await openContext(p, signal);
  const { ns } = ctx;
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  console.log(`namespace ${ns}; ${os.cpus().length} CPUs, node ${process.version}, load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}; ` +
    `tierstream: node --import tsx main.ts, role all (supervisor + engine at nice ${config.engineNice} + api), TIERSTREAM_RATE_LIMIT=${RATE_LIMIT}, ` +
    `one API key with scope lookup, LOG_LEVEL=info; filters ${filters.join(', ')}`);
  const busy = await machineBusy();
  if (busy !== undefined && busy > 0.2) {
    console.log(`warning: ${(busy * 100).toFixed(0)}% of the CPUs were busy in the second before the start: something else uses the machine, expect lower numbers`);
  }
  let bare: BareFastify | undefined;
  let ts: TierstreamProcess | undefined;
  try {
    // The same users in every filter's bodies: the filters differ only in what they ask.
    const pools = Object.fromEntries(FILTER_NAMES.map((f) => [f, requestBodies(ctx, FILTERS[f])])) as Record<FilterName, Bodies>;
    const pool = pools.existing;
    const services = servicePids();
    const phases: PhaseResult[] = [];
    const phase = async (spec: PhaseSpec, url: string, pids: Record<string, number[]>) => {
      const r = await runPhase(ctx, spec, url, pools[spec.filter ?? 'existing'], { ...pids, ...services });
      printPhase(r);
      phases.push(r);
      return r;
    };
    const openPhases = (server: 'bare Fastify' | 'tierstream', label: string, drain = false) =>
      [p.rateLow, p.rateHigh].map((rate): PhaseSpec => ({ phase: `${label}, open ${rate}/s`, server, loop: 'open', rate, drain }));
    // Each kind of tierstream phase once per filter, back to back; the order alternates from
    // one kind to the next within (b) and within (c), each starting with the existing filter
    // (as before the new leaves), so neither filter always gets the later moment.
    let kinds = 0;
    const perFilter = (spec: PhaseSpec): PhaseSpec[] => {
      const order = kinds++ % 2 === 0 ? filters : [...filters].reverse();
      return order.map((f) => ({ ...spec, filter: f, phase: f === 'existing' ? spec.phase : `${spec.phase}, new leaves` }));
    };

    // (a) The ceiling, alone on the machine: tierstream is not running yet.
    bare = await startBareFastify();
    const barePids = { 'bare Fastify': [bare.pid] };
    await phase({ phase: '(a) bare Fastify, closed loop', server: 'bare Fastify', loop: 'closed' }, bare.url, barePids);
    for (const spec of openPhases('bare Fastify', '(a) bare Fastify')) await phase(spec, bare.url, barePids);
    await bare.stop();
    bare = undefined;

    // (b) tierstream, idle. Started before the setup: its first hot-tier check (a new
    // namespace has no sentinel) rebuilds nothing then, and the setup's writes stay.
    const port = await freePort();
    ts = await startTierstream(env, port, signal);
    const firstStart = { readySeconds: ts.readySeconds, pids: { ...ts.pids } };
    console.log(`tierstream ready in ${ts.readySeconds.toFixed(1)} s: supervisor ${ts.pids.supervisor}, engine ${ts.pids.engine}, api ${ts.pids.api}`);
    const checkUrl = `${ts.baseUrl}/v1/retargeting/check`;
    const setup = await writeHotData(ctx, config, { newLeaves: true });
    const newLeaves = setup.newLeaves!;
    console.log(`setup: ${setup.events.toLocaleString('en-US')} events of campaigns L1 (email), L3 (SMS) and canvas LC1 (push) for ${p.users.toLocaleString('en-US')} users ` +
      `into ClickHouse and Redis in ${setup.seconds.toFixed(1)} s; Redis holds ${setup.redis.any} users of L1, ${setup.redis.send} with a send, ${setup.redis.click} with a click`);
    printMemory(newLeaves.memory);
    const merges = await waitForMerges(ctx);
    const expected: Record<FilterName, Uint8Array | Expected> = { existing: setup.clicked, new: (u, now) => newLeaves.data.expected(u, now) };
    const answersOf = async (when: string) => {
      const out: Partial<Record<FilterName, Agreement>> = {};
      for (const f of filters) {
        out[f] = await checkAnswers(checkUrl, ctx.headers, pools[f], expected[f]);
        reportAnswers(`${when}, ${f} filter`, out[f]);
      }
      return out;
    };
    const beforePhases = await answersOf('before the phases');
    const tsPids = () => ({ supervisor: [ts!.pids.supervisor], engine: [ts!.pids.engine], api: [ts!.pids.api] });
    for (const spec of perFilter({ phase: '(b) tierstream idle, closed loop', server: 'tierstream', loop: 'closed' })) await phase(spec, checkUrl, tsPids());
    for (const kind of openPhases('tierstream', '(b) tierstream idle')) for (const spec of perFilter(kind)) await phase(spec, checkUrl, tsPids());

    // (c) Stop it, publish the backlog while no engine runs, start it again and measure while it drains.
    const stopped = await ts.stop();
    console.log(`tierstream stopped by SIGTERM in ${stopped.seconds.toFixed(1)} s, exit ${stopped.signal ?? stopped.code}`);
    if (stopped.code !== 0) throw new Error(`tierstream exited ${stopped.signal ?? stopped.code} on SIGTERM, not 0:\n${ts.warnings.slice(-10).join('\n')}`);
    const warningsFirstRun = ts.warnings;
    ts = undefined;
    const backlog = await publishBacklog(ctx);
    console.log(`backlog: ${backlog.events.toLocaleString('en-US')} events published in ${backlog.seconds.toFixed(1)} s (${backlog.eventsPerSecond.toLocaleString('en-US')}/s, ` +
      `each acknowledged by JetStream); the engine's consumer has ${backlog.numPending.toLocaleString('en-US')} pending`);
    ts = await startTierstream(env, port, signal);
    const pendingAtReady = (await ctx.jsm.consumers.info(natsNames(ns).stream, natsNames(ns).consumer)).num_pending;
    console.log(`tierstream ready again in ${ts.readySeconds.toFixed(1)} s (engine ${ts.pids.engine}, api ${ts.pids.api}); num_pending ${pendingAtReady.toLocaleString('en-US')}`);
    kinds = 0;
    for (const kind of openPhases('tierstream', '(c) tierstream draining', true)) for (const spec of perFilter(kind)) await phase(spec, checkUrl, tsPids());
    // The backlog's events of the lookups' users may take some of them out of the new filter's
    // answer (a bounce, a recent open); whether the engine has ingested them yet is not known.
    const touched = newLeaves.data.markBacklog(backlogEvents(ctx, backlog.start), Date.now());
    console.log(`the backlog touches the new filter's answer for ${touched.users.toLocaleString('en-US')} of the ${p.users.toLocaleString('en-US')} users (either answer accepted for them)`);
    const afterDrain = await answersOf('after the drain phases');
    const answers = { beforePhases, afterDrain, backlogTouchedUsers: touched.users };
    const secondStart = { readySeconds: ts.readySeconds, pids: { ...ts.pids }, pendingAtReady };
    const finalStop = await ts.stop();
    console.log(`tierstream stopped by SIGTERM in ${finalStop.seconds.toFixed(1)} s, exit ${finalStop.signal ?? finalStop.code}`);
    const warnings = ts.warnings;
    ts = undefined;

    const summary = summarize(phases);
    printSummary(phases, summary);
    const comparison = compareFilters(phases);
    printComparison(comparison);
    for (const chart of drawLookups(phases)) console.log(`chart written to ${chart}`);
    const file = writeResult('lookups', startedAt, {
      benchmark: 'lookups',
      question: lookups.question,
      startedAt: startedAt.toISOString(),
      namespace: ns,
      parameters: p,
      settings: {
        request: { method: 'POST', path: '/v1/retargeting/check', filter: FILTER, exampleBody: pool.bodies[0] },
        filters: Object.fromEntries(filters.map((f) => [f, FILTERS[f]])),
        tierstream: { command: 'node --import tsx main.ts', role: 'all', engineNice: config.engineNice, rateLimitPerSecond: RATE_LIMIT, logLevel: 'info' },
        auth: 'one API key, scope lookup, sent as Authorization: Bearer',
        openLoop: 'latency from each request\'s due time (start + i / rate), keep-alive node:http Agent, clock thread on Atomics.wait',
        closedLoop: `autocannon, ${p.connections} connections, no pipelining`,
      },
      machine: { ...(await machineInfo(ctx, loadAtStart)), cpuBusyBeforeStart: busy },
      services,
      setup: { events: setup.events, seconds: setup.seconds, redis: setup.redis, merges },
      memory: newLeaves.memory,
      tierstream: {
        firstStart, stop: stopped, secondStart, finalStop,
        // Log lines at warn or above (and anything not JSON) of each start.
        warnings: { firstRun: warningsFirstRun.slice(-10), secondRun: warnings.slice(-10), count: warningsFirstRun.length + warnings.length },
      },
      backlog,
      answers,
      phases,
      summary,
      comparison,
      targets: summary.targets,
    });
    console.log(`\nresult written to ${file}`);
  } finally {
    await bare?.stop();
    await cleanupNamespace(ctx, [['tierstream (SIGTERM, drain)', async () => ts?.stop()]]);
  }
}

function reportAnswers(when: string, a: Agreement): void {
  console.log(`answers ${when}: ${a.correct}/${a.compared} sample checks as expected; ${a.meanMatched} of the ids matched on average` +
    `${a.uncertain ? `; ${a.uncertain} asked users not compared (either answer right)` : ''}`);
  if (a.correct !== a.compared) throw new Error(`checks answered wrongly ${when}: the numbers would be meaningless`);
}

/** Waits until ClickHouse runs no merge in the namespace's database: merges after the setup would take CPU from the phases. */
export async function waitForMerges(ctx: Ctx): Promise<{ seconds: number }> {
  const t0 = performance.now();
  for (;;) {
    ctx.signal.throwIfAborted();
    const [r] = await ctx.history.select<{ n: string }>(`SELECT count() AS n FROM system.merges WHERE database = '${ctx.ns}'`);
    if (Number(r?.n ?? 0) === 0) return { seconds: round((performance.now() - t0) / 1000, 1) };
    if (performance.now() - t0 > STALL_MS) throw new Error(`ClickHouse merges in ${ctx.ns} still running after ${STALL_MS / 1000} s`);
    await sleep(200);
  }
}
