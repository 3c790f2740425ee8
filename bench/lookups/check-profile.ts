/**
 * Where the API process's CPU goes on a hot check: POST /v1/retargeting/check of
 * `ids-per-check` users against "sent L1 and not clicked L1", the lookups benchmark's data and
 * bodies (hot-data.ts), driven closed loop by autocannon (../http-load.ts) against tierstream
 * of role `api` alone (no engine, no supervisor: nothing else in the process).
 *
 *   tsx bench/run.ts check-profile [--trees base=/path/a,new=/path/b] [--rounds 3] [--profile 1]
 *
 * Each checkout in `--trees` (default: this one) runs its own main.ts against the same
 * namespace, in turn, `rounds` times (order alternating per round), without the profiler:
 * API CPU µs per check (/proc/<pid>/stat over the measured window) and Redis CPU µs per check,
 * medians per checkout. Then, with `--profile 1`, one more run per checkout under
 * `node --cpu-prof`: the profile's samples inside the measured window, self time per check by
 * function and by file or package (../cpuprofile.ts). The profiler costs CPU of its own, so
 * µs per check is taken from the unprofiled runs. Every answer is checked before each run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, pidCpuSeconds, round, table } from '../measure.js';
import { cleanupNamespace, codeVersion, machineInfo, writeResult } from '../namespace.js';
import { readProfile, summarizeProfile, type ProfileSummary } from '../cpuprofile.js';
import { runLoad } from '../http-load.js';
import type { Benchmark } from '../types.js';
import { RATE_LIMIT, openContext, type Params } from './context.js';
import { FILTER, checkAnswers, requestBodies, writeHotData } from './hot-data.js';
import { waitForMerges } from './benchmark.js';
import { servicePids } from './process-cpu.js';
import { freePort, startTierstream, type TierstreamProcess } from './tierstream-process.js';

const thisRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

export const checkProfile: Benchmark = {
  name: 'check-profile',
  question:
    'Where does the API process spend its CPU on a hot POST /v1/retargeting/check of 100 users ("sent L1 and not clicked L1", 50,000 hot users)? ' +
    'API and Redis CPU µs per check at the closed-loop maximum, for one or more checkouts side by side (medians of rounds), and a --cpu-prof ' +
    'self-time summary by function and by file or package.',
  options: {
    users: { default: 50_000, min: 100, description: 'hot users of campaign L1 (u0..), each with a send' },
    'click-pct': { default: 30, min: 0, description: 'percent of them with a click after their send' },
    'ids-per-check': { default: 100, min: 1, description: 'user ids per check request' },
    bodies: { default: 1_000, min: 1, description: 'distinct request bodies (random ids), sent in turn' },
    connections: { default: 10, min: 1, description: 'autocannon connections (one request in flight on each)' },
    duration: { default: 10, min: 1, description: 'seconds measured per run' },
    warmup: { default: 3, min: 0, description: 'seconds of unmeasured load first, per run' },
    rounds: { default: 3, min: 1, description: 'unprofiled runs per checkout (µs per check: their median)' },
    profile: { default: 1, min: 0, description: '1: one more run per checkout under node --cpu-prof, summarized; 0: none' },
    top: { default: 20, min: 1, description: 'rows of each profile table' },
    seed: { default: 1, min: 0, description: 'PRNG seed of data and request ids' },
  },
  textOptions: {
    trees: { description: `checkouts to run the API from, comma separated, each "label=path" or a path (default: this checkout, ${thisRoot})` },
  },
  async run(raw, signal, _lists, text) {
    const trees = (text.trees ?? thisRoot).split(',').map((t) => t.trim()).filter(Boolean).map((t, i) => {
      const eq = t.indexOf('=');
      return eq < 0 ? { label: trees1(t, i), root: t.replace(/\/$/, '') } : { label: t.slice(0, eq), root: t.slice(eq + 1).replace(/\/$/, '') };
    });
    await runCheckProfile(raw, trees, signal);
  },
};

const trees1 = (path: string, i: number) => (path.replace(/\/$/, '') === thisRoot ? 'this' : `tree${i + 1}`);

interface Tree { label: string; root: string }

interface RunResult {
  tree: string;
  round: number | 'profiled';
  checks: number;
  checksPerSecond: number;
  apiUsPerCheck: number;
  redisUsPerCheck: number;
  latencyMs: { p50: number; p99: number };
  errors: number;
  non2xx: number;
  profile?: { file: string; summary: ProfileSummary; selfUsPerCheck: { byFunction: [string, number][]; byFile: [string, number][] } };
}

async function runCheckProfile(raw: Record<string, number>, trees: Tree[], signal: AbortSignal): Promise<void> {
  // The lookups benchmark's parameters: only those of the data and the bodies are read here.
  const p: Params = {
    users: raw.users!, clickPct: raw['click-pct']!, idsPerCheck: raw['ids-per-check']!, bodies: raw.bodies!, connections: raw.connections!,
    closedDuration: raw.duration!, closedWarmup: raw.warmup!, rateLow: 0, rateHigh: 0, duration: 0, warmup: 0, sockets: 0, generatorNice: 0,
    backlog: 0, backlogCampaigns: 0, backlogUsers: 0, seed: raw.seed!,
  };
  const { ctx, env, config } = await openContext(p, signal);
  const { ns } = ctx;
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  const profileDir = mkdtempSync(join(os.tmpdir(), 'tierstream-check-profile-'));
  console.log(`namespace ${ns}; tierstream role api alone, TIERSTREAM_RATE_LIMIT=${RATE_LIMIT}, one API key (scope lookup); profiles in ${profileDir}`);
  for (const t of trees) console.log(`checkout ${t.label}: ${t.root} (${treeVersion(t.root)})`);
  let ts: TierstreamProcess | undefined;
  try {
    const setup = await writeHotData(ctx, config);
    await waitForMerges(ctx);
    console.log(`setup: ${setup.events} events, ${setup.redis.any} hot users (${setup.redis.click} with a click)`);
    const pool = requestBodies(ctx);
    const redisPids = servicePids().redis ?? [];

    const once = async (tree: Tree, round: RunResult['round']): Promise<RunResult> => {
      const profiled = round === 'profiled';
      const dir = profiled ? mkdtempSync(join(profileDir, `${tree.label}-`)) : undefined;
      ts = await startTierstream(env, await freePort(), signal, { role: 'api', root: tree.root, ...(dir && { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] }) });
      const pid = ts.pids.api;
      const url = `${ts.baseUrl}/v1/retargeting/check`;
      const agreement = await checkAnswers(url, ctx.headers, pool, setup.clicked);
      if (agreement.correct !== agreement.compared) throw new Error(`${tree.label}: ${agreement.compared - agreement.correct} of ${agreement.compared} checks answered wrongly`);
      const edges: Record<'start' | 'end', { api: number; redis: number; us: number }> = { start: { api: 0, redis: 0, us: 0 }, end: { api: 0, redis: 0, us: 0 } };
      const load = await runLoad(
        { url, method: 'POST', headers: ctx.headers, bodies: pool.bodies, connections: p.connections, durationSeconds: p.closedDuration, warmupSeconds: p.closedWarmup },
        {
          signal,
          onWindow: (edge) => {
            edges[edge] = { api: pidCpuSeconds(pid), redis: redisPids.reduce((s, r) => s + pidCpuSeconds(r), 0), us: Number(process.hrtime.bigint() / 1000n) };
          },
        },
      );
      const stopped = await ts.stop();
      ts = undefined;
      if (stopped.code !== 0) throw new Error(`${tree.label}: the api process exited ${stopped.signal ?? stopped.code} on SIGTERM`);
      const checks = load.responses;
      const r: RunResult = {
        tree: tree.label, round, checks, checksPerSecond: load.requestsPerSecond,
        apiUsPerCheck: Math.round(((edges.end.api - edges.start.api) * 1e6) / checks),
        redisUsPerCheck: Math.round(((edges.end.redis - edges.start.redis) * 1e6) / checks),
        latencyMs: { p50: load.latencyMs.p50, p99: load.latencyMs.p99 },
        errors: load.errors, non2xx: load.non2xx,
      };
      if (dir) r.profile = summarizeRun(dir, pid, tree.root, edges.start.us, edges.end.us, checks, raw.top!);
      console.log(`${tree.label} ${profiled ? 'profiled' : `round ${round}`}: ${r.checksPerSecond} checks/s, api ${r.apiUsPerCheck} µs/check, redis ${r.redisUsPerCheck} µs/check, ` +
        `p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms${r.errors || r.non2xx ? `, ${r.errors} errors, ${r.non2xx} non-2xx` : ''}`);
      return r;
    };

    const runs: RunResult[] = [];
    for (let round = 1; round <= raw.rounds!; round++) {
      for (const tree of round % 2 ? trees : [...trees].reverse()) runs.push(await once(tree, round));
    }
    if (raw.profile) for (const tree of trees) runs.push(await once(tree, 'profiled'));

    const medians = trees.map((t) => {
      const mine = runs.filter((r) => r.tree === t.label && r.round !== 'profiled');
      return {
        tree: t.label,
        checksPerSecond: median(mine.map((r) => r.checksPerSecond)),
        apiUsPerCheck: median(mine.map((r) => r.apiUsPerCheck)),
        redisUsPerCheck: median(mine.map((r) => r.redisUsPerCheck)),
        apiUsPerCheckRuns: mine.map((r) => r.apiUsPerCheck),
      };
    });
    console.log(`\nmedians of ${raw.rounds} unprofiled runs per checkout (${p.closedDuration} s each, ${p.connections} connections):`);
    console.log(table(['checkout', 'checks/s', 'api µs/check', 'api µs/check, each run', 'redis µs/check'],
      medians.map((m) => [m.tree, m.checksPerSecond, m.apiUsPerCheck, m.apiUsPerCheckRuns.join(', '), m.redisUsPerCheck])));
    for (const r of runs) {
      if (!r.profile) continue;
      const s = r.profile.summary;
      console.log(`\nprofile of ${r.tree} (${r.profile.file}): ${s.samples} samples in the window, main thread busy ${s.busyMs} ms, idle ${s.idleMs} ms; ` +
        `${r.checks} checks, api ${r.apiUsPerCheck} µs/check with the profiler`);
      console.log(table(['self µs/check', '%', 'function'], s.byFunction.map((f, i) => [r.profile!.selfUsPerCheck.byFunction[i]![1], f.pct, f.name])));
      console.log();
      console.log(table(['self µs/check', '%', 'file or package'], s.byFile.map((f, i) => [r.profile!.selfUsPerCheck.byFile[i]![1], f.pct, f.name])));
    }
    const file = writeResult('check-profile', startedAt, {
      benchmark: 'check-profile',
      question: checkProfile.question,
      startedAt: startedAt.toISOString(),
      namespace: ns,
      parameters: raw,
      trees: trees.map((t) => ({ ...t, version: treeVersion(t.root) })),
      request: { method: 'POST', path: '/v1/retargeting/check', filter: FILTER, exampleBody: pool.bodies[0] },
      machine: { ...(await machineInfo(ctx, loadAtStart)), code: codeVersion() },
      medians,
      runs,
    });
    console.log(`\nresult written to ${file}`);
  } finally {
    await cleanupNamespace(ctx, [['tierstream api (SIGTERM)', async () => ts?.stop()]]);
  }
}

/** The main thread's profile of process `pid` in `dir`, summarized over the window [fromUs, toUs]. */
function summarizeRun(dir: string, pid: number, root: string, fromUs: number, toUs: number, checks: number, top: number): NonNullable<RunResult['profile']> {
  // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
  const name = readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && f.split('.')[3] === String(pid) && f.split('.')[4] === '0');
  if (!name) throw new Error(`no main-thread profile of pid ${pid} in ${dir}: ${readdirSync(dir).join(', ')}`);
  const profile = readProfile(join(dir, name));
  if (fromUs < profile.startTime || toUs > profile.endTime) {
    throw new Error(`the measured window (${fromUs}..${toUs} µs) is not inside the profile (${profile.startTime}..${profile.endTime}): clocks differ?`);
  }
  const summary = summarizeProfile(profile, root, { fromUs, toUs, top });
  const perCheck = (l: { name: string; ms: number }[]) => l.map((x): [string, number] => [x.name, round((x.ms * 1000) / checks, 1)]);
  return { file: join(dir, name), summary, selfUsPerCheck: { byFunction: perCheck(summary.byFunction), byFile: perCheck(summary.byFile) } };
}

function treeVersion(root: string): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? ' dirty' : ''}`;
  } catch {
    return 'not a git checkout';
  }
}
