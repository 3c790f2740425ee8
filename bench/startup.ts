/**
 * Start-up time and memory of every process, run from the TypeScript sources through tsx (what
 * `npm start` ran before the production build, `npm run dev` now) and compiled (`node
 * dist/main.js`, `npm start`), side by side in one run: the two alternate, run after run, on
 * one namespace, after a warm-up pair that is not counted.
 *
 *   npm run bench -- startup [--runs 5] [--warmup 1] [--roles api,engine,all]
 *
 * Per role (`api` and `engine` alone, `all`: the supervisor with one engine and one API child):
 * milliseconds from spawn until every tierstream process logged "tierstream started" and, with
 * an API, /readyz answered 200; then, one second later, the RSS of every process of the tree
 * (from /proc: Linux only), tsx's own ones included (its CLI process, esbuild's service).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'nats';
import { configFromEnv } from '../config.js';
import { ClickHouseHistory, createRedis } from '../storage/index.js';
import { freePort } from './lookups/tierstream-process.js';
import { median, round, table } from './measure.js';
import { cleanupNamespace, machineInfo, writeResult, type BenchNamespace } from './namespace.js';
import type { Benchmark } from './types.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const ROLES = ['api', 'engine', 'all'] as const;
type Role = (typeof ROLES)[number];
const VARIANTS = ['tsx', 'compiled'] as const;
type Variant = (typeof VARIANTS)[number];
/** Longest one start may take. */
const START_TIMEOUT_MS = 60_000;
/** Between ready and the RSS sample: what the process holds once started, not its start-up's garbage peak. */
const SETTLE_MS = 1_000;

/** `tsx main.ts` as npm ran it (tsx's CLI, which runs main.ts in a child node with its loader), or the build. */
const argvOf = (v: Variant) => (v === 'tsx' ? [`${root}node_modules/tsx/dist/cli.mjs`, 'main.ts'] : ['dist/main.js']);

/** The pids of `pid` and its descendants, from /proc/<pid>/stat. */
function tree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  return out;
}

/** What a process of the tree is: tsx's CLI, esbuild's service, or tierstream by its role. */
function label(pid: number, role: Role): string {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  if (argv.some((a) => a.endsWith('tsx/dist/cli.mjs'))) return 'tsx cli';
  if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'esbuild') return 'esbuild';
  const env = /(?:^|\0)TIERSTREAM_ROLE=([a-z]+)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1];
  if (role !== 'all') return role;
  return env === 'all' ? 'supervisor' : env ?? '?';
}

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

interface Sample { ms: number; rss: Record<string, number> }

async function startOnce(variant: Variant, role: Role, env: Record<string, string>): Promise<Sample> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, argvOf(variant), {
    cwd: root,
    env: { ...process.env, ...env, TIERSTREAM_ROLE: role, LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  let exited = false;
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (log += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (log += c));
  const exit = new Promise<void>((resolve) => child.on('exit', () => ((exited = true), resolve())));
  const processes = role === 'all' ? 2 : 1;
  try {
    let ready = role === 'engine';
    for (;;) {
      if (exited) throw new Error(`${variant} ${role} exited before it started: ${log.slice(-2000)}`);
      if (performance.now() - t0 > START_TIMEOUT_MS) throw new Error(`${variant} ${role} not started in ${START_TIMEOUT_MS} ms: ${log.slice(-2000)}`);
      if (!ready) ready = (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200;
      if (ready && log.split('"msg":"tierstream started"').length - 1 >= processes) break;
      await sleep(5);
    }
    const ms = performance.now() - t0;
    await sleep(SETTLE_MS);
    const rss: Record<string, number> = {};
    for (const pid of tree(child.pid!)) {
      try {
        const name = label(pid, role);
        rss[name] = (rss[name] ?? 0) + rssMiB(pid);
      } catch { /* gone */ }
    }
    return { ms, rss };
  } finally {
    child.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const pid of tree(child.pid!).reverse()) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }, 35_000);
    await exit;
    clearTimeout(killer);
  }
}

export const startup: Benchmark = {
  name: 'startup',
  question: 'How long does each process take to start, and how much memory does it hold, run through tsx and compiled (node dist/main.js)?',
  options: {
    runs: { default: 5, min: 1, description: 'counted starts per role and variant (medians reported)' },
    warmup: { default: 1, min: 0, description: 'starts per role and variant before those, not counted' },
  },
  textOptions: { roles: { description: `roles to start, comma separated (default ${ROLES.join(',')})` } },
  async run(p, signal, _lists, text) {
    const roles = (text.roles?.split(',').map((r) => r.trim()) ?? [...ROLES]) as Role[];
    for (const r of roles) if (!ROLES.includes(r)) throw new Error(`--roles: unknown role "${r}" (known: ${ROLES.join(', ')})`);
    const startedAt = new Date();
    const loadAtStart = (await import('node:os')).loadavg();
    const build = spawnSync(`${root}scripts/build.sh`, ['--if-stale'], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npm run build failed');
    const ns = `bench_${randomBytes(4).toString('hex')}`;
    const env = { TIERSTREAM_NAMESPACE: ns, TIERSTREAM_ENGINE_PROCESSES: '1', TIERSTREAM_API_PROCESSES: '1' };
    const config = configFromEnv({ ...process.env, ...env });
    const nc = await connect({ servers: config.natsServers, name: `bench-${ns}` });
    const ctx: BenchNamespace = {
      ns, nc, signal,
      jsm: await nc.jetstreamManager(),
      history: new ClickHouseHistory({ url: config.clickhouseUrl, cluster: config.clickhouseCluster, database: ns }),
      redis: createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes }),
    };
    const samples: Record<string, Sample[]> = {};
    try {
      for (const role of roles) {
        for (let i = 0; i < p.warmup! + p.runs!; i++) {
          // Alternating which goes first: neither always starts on a machine the other just left.
          for (const variant of i % 2 ? [...VARIANTS].reverse() : VARIANTS) {
            signal.throwIfAborted();
            const s = await startOnce(variant, role, env);
            if (i >= p.warmup!) (samples[`${role}/${variant}`] ??= []).push(s);
            process.stdout.write(`${role} ${variant} ${i < p.warmup! ? '(warm-up) ' : ''}${Math.round(s.ms)} ms ${Object.entries(s.rss).map(([k, v]) => `${k} ${v.toFixed(0)} MiB`).join(', ')}\n`);
          }
        }
      }
      const rows: (string | number)[][] = [];
      const summary: Record<string, unknown> = {};
      for (const role of roles) {
        const med = (v: Variant, f: (s: Sample) => number) => median(samples[`${role}/${v}`]!.map(f));
        const names = [...new Set(VARIANTS.flatMap((v) => samples[`${role}/${v}`]!.flatMap((s) => Object.keys(s.rss))))];
        const line = (what: string, f: (s: Sample) => number, digits: number) => {
          const [a, b] = VARIANTS.map((v) => med(v, f));
          rows.push([role, what, round(a!, digits), round(b!, digits), Number.isFinite(a! / b!) && b! > 0 ? `${round(a! / b!, 2)}x` : '-']);
          return { tsx: round(a!, digits), compiled: round(b!, digits) };
        };
        summary[role] = {
          startMs: line('start-up, ms', (s) => s.ms, 0),
          rssMiB: Object.fromEntries(names.map((n) => [n, line(`RSS ${n}, MiB`, (s) => s.rss[n] ?? 0, 1)])),
          rssTotalMiB: line('RSS all processes, MiB', (s) => Object.values(s.rss).reduce((x, y) => x + y, 0), 1),
        };
      }
      console.log(`\nmedians of ${p.runs} (after ${p.warmup} warm-up), namespace ${ns}\n`);
      console.log(table(['role', 'measure', 'tsx', 'compiled', 'tsx/compiled'], rows));
      const file = writeResult('startup', startedAt, {
        benchmark: 'startup', startedAt, params: p, machine: await machineInfo(ctx, loadAtStart),
        summary, samples,
      });
      console.log(`\nwrote ${file}`);
    } finally {
      await cleanupNamespace(ctx);
    }
  },
};
