/**
 * Lookups benchmark: POST /v1/retargeting/check with 100 user ids against "sent L1 and not
 * clicked L1", over HTTP on loopback, against tierstream as the product runs (main.ts, role
 * all: a supervisor, an engine child and an api child). In one run, in a random namespace
 * removed at the end: (a) a bare Fastify app with the same body schema, (b) tierstream idle,
 * each at its closed-loop maximum and open loop at two fixed rates, and (c) tierstream open
 * loop while its engine drains a backlog published while it was stopped. CPU per check for
 * every process. Method and numbers: bench/README.md.
 *
 * This file runs the phases in order; each part has its module here: tierstream-process
 * (spawn, pids, stop), bare-fastify (the ceiling), hot-data (setup, bodies, answers), backlog
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
import { FILTER, checkAnswers, requestBodies, writeHotData, type Agreement } from './hot-data.js';
import { publishBacklog } from './backlog.js';
import { runPhase, type PhaseResult, type PhaseSpec } from './phases.js';
import { servicePids } from './process-cpu.js';
import { printPhase, printSummary, summarize } from './report.js';

export const lookups: Benchmark = {
  name: 'lookups',
  question:
    'How fast does POST /v1/retargeting/check (100 user ids, "sent L1 and not clicked L1", 50,000 hot users) answer, against tierstream ' +
    'as npm start runs it? Closed-loop maximum checks/s against a bare Fastify app with the same body schema (target >= 0.5x), and ' +
    'open-loop latency at fixed rates, timed from each request\'s due time: idle (target p99 <= 2 ms at 400/s) and while the engine ' +
    'drains a backlog of >= 1M events (target p99 <= 10 ms at 400/s, draining at >= 10k events/s). CPU per check for every process.',
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
    backlog: { default: 2_000_000, min: 1, description: 'events published while tierstream is stopped, drained during (c) (1M ran out here: the engine drains ~48k/s)' },
    'backlog-campaigns': { default: 20, min: 1, description: 'backlog generator: campaigns (c0.., a fifth canvases cv0..)' },
    'backlog-users': { default: 200_000, min: 1, description: 'backlog generator: users' },
    seed: { default: 1, min: 0, description: 'PRNG seed of data, request ids and backlog' },
  },
  async run(raw, signal) {
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
    await runLookups(p, signal);
  },
};

async function runLookups(p: Params, signal: AbortSignal): Promise<void> {
  const { ctx, env, config } = await openContext(p, signal);
  const { ns } = ctx;
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  console.log(`namespace ${ns}; ${os.cpus().length} CPUs, node ${process.version}, load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}; ` +
    `tierstream: node --import tsx main.ts, role all (supervisor + engine at nice ${config.engineNice} + api), TIERSTREAM_RATE_LIMIT=${RATE_LIMIT}, ` +
    'one API key with scope lookup, LOG_LEVEL=info');
  const busy = await machineBusy();
  if (busy !== undefined && busy > 0.2) {
    console.log(`warning: ${(busy * 100).toFixed(0)}% of the CPUs were busy in the second before the start: something else uses the machine, expect lower numbers`);
  }
  let bare: BareFastify | undefined;
  let ts: TierstreamProcess | undefined;
  try {
    const pool = requestBodies(ctx);
    const services = servicePids();
    const phases: PhaseResult[] = [];
    const phase = async (spec: PhaseSpec, url: string, pids: Record<string, number[]>) => {
      const r = await runPhase(ctx, spec, url, pool, { ...pids, ...services });
      printPhase(r);
      phases.push(r);
      return r;
    };
    const openPhases = (server: 'bare Fastify' | 'tierstream', label: string, drain = false) =>
      [p.rateLow, p.rateHigh].map((rate): PhaseSpec => ({ phase: `${label}, open ${rate}/s`, server, loop: 'open', rate, drain }));

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
    const setup = await writeHotData(ctx, config);
    console.log(`setup: ${setup.events.toLocaleString('en-US')} events of campaign L1 (${p.users.toLocaleString('en-US')} users) into ClickHouse and Redis ` +
      `in ${setup.seconds.toFixed(1)} s; Redis holds ${setup.redis.any} users, ${setup.redis.send} with a send, ${setup.redis.click} with a click`);
    const merges = await waitForMerges(ctx);
    const beforePhases = await checkAnswers(checkUrl, ctx.headers, pool, setup.clicked);
    reportAnswers('before the phases', beforePhases);
    const tsPids = () => ({ supervisor: [ts!.pids.supervisor], engine: [ts!.pids.engine], api: [ts!.pids.api] });
    await phase({ phase: '(b) tierstream idle, closed loop', server: 'tierstream', loop: 'closed' }, checkUrl, tsPids());
    for (const spec of openPhases('tierstream', '(b) tierstream idle')) await phase(spec, checkUrl, tsPids());

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
    for (const spec of openPhases('tierstream', '(c) tierstream draining', true)) await phase(spec, checkUrl, tsPids());
    const afterDrain = await checkAnswers(checkUrl, ctx.headers, pool, setup.clicked);
    reportAnswers('after the drain phases', afterDrain);
    const answers: Record<string, Agreement> = { beforePhases, afterDrain };
    const secondStart = { readySeconds: ts.readySeconds, pids: { ...ts.pids }, pendingAtReady };
    const finalStop = await ts.stop();
    console.log(`tierstream stopped by SIGTERM in ${finalStop.seconds.toFixed(1)} s, exit ${finalStop.signal ?? finalStop.code}`);
    const warnings = ts.warnings;
    ts = undefined;

    const summary = summarize(phases);
    printSummary(phases, summary);
    for (const chart of drawLookups(phases)) console.log(`chart written to ${chart}`);
    const file = writeResult('lookups', startedAt, {
      benchmark: 'lookups',
      question: lookups.question,
      startedAt: startedAt.toISOString(),
      namespace: ns,
      parameters: p,
      settings: {
        request: { method: 'POST', path: '/v1/retargeting/check', filter: FILTER, exampleBody: pool.bodies[0] },
        tierstream: { command: 'node --import tsx main.ts', role: 'all', engineNice: config.engineNice, rateLimitPerSecond: RATE_LIMIT, logLevel: 'info' },
        auth: 'one API key, scope lookup, sent as Authorization: Bearer',
        openLoop: 'latency from each request\'s due time (start + i / rate), keep-alive node:http Agent, clock thread on Atomics.wait',
        closedLoop: `autocannon, ${p.connections} connections, no pipelining`,
      },
      machine: { ...(await machineInfo(ctx, loadAtStart)), cpuBusyBeforeStart: busy },
      services,
      setup: { events: setup.events, seconds: setup.seconds, redis: setup.redis, merges },
      tierstream: {
        firstStart, stop: stopped, secondStart, finalStop,
        // Log lines at warn or above (and anything not JSON) of each start.
        warnings: { firstRun: warningsFirstRun.slice(-10), secondRun: warnings.slice(-10), count: warningsFirstRun.length + warnings.length },
      },
      backlog,
      answers,
      phases,
      summary,
      targets: summary.targets,
    });
    console.log(`\nresult written to ${file}`);
  } finally {
    await bare?.stop();
    await cleanupNamespace(ctx, [['tierstream (SIGTERM, drain)', async () => ts?.stop()]]);
  }
}

function reportAnswers(when: string, a: Agreement): void {
  console.log(`answers ${when}: ${a.correct}/${a.compared} sample checks as expected; ${a.meanMatched} of the ids matched on average`);
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
