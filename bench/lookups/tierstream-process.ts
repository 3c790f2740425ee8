/**
 * tierstream as the product runs it: `node --import tsx main.ts` with role `all` (or, with
 * `BENCH_RUN=compiled`, `node dist/main.js` as `npm start` runs it, built first if stale), which
 * supervises `TIERSTREAM_ENGINE_PROCESSES` `engine` children (at nice 10) and an `api` child.
 * The supervisor's JSON log lines `{"msg":"process started","role":...,"pid":...}`
 * (LOG_LEVEL=info) give the children's pids, for their CPU counters. Stopped with SIGTERM: the
 * supervisor drains every child and exits 0.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** Longest the process may take to answer /readyz 200. */
const READY_TIMEOUT_MS = 120_000;
/** Longest a SIGTERM drain may take before the benchmark kills the processes (the supervisor's own grace is 30 s). */
const STOP_TIMEOUT_MS = 45_000;
/** Log lines kept for a failure message. */
const LOG_TAIL = 40;

export interface TierstreamProcess {
  /**
   * Pids by role: the supervisor (main.ts), its first engine child, every engine child (in the
   * order they came up) and the api child. Filled in as the children start.
   */
  pids: { supervisor: number; engine: number; engines: number[]; api: number };
  baseUrl: string;
  /** Seconds from spawn to /readyz 200. */
  readySeconds: number;
  /** Log lines at warn or above so far (JSON, as logged). */
  warnings: string[];
  /** SIGTERM, then waits for the supervisor's exit; SIGKILL by pid after STOP_TIMEOUT_MS. */
  stop(): Promise<{ code: number | null; signal: string | null; seconds: number }>;
  exited(): boolean;
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * How to run main.ts: role `all` (default, the supervisor and its children), `api` alone
 * (its own pid is the api's; no engine) or `engine` alone (its pid is the only engine's: ingest as
 * it ran before the process split; no /readyz, so not for `ready()`); extra node flags (e.g. `--cpu-prof`); and the
 * checkout to run it from (default this one), so that two versions can be measured side by side.
 */
export interface SpawnOptions {
  role?: 'all' | 'api' | 'engine';
  nodeArgs?: string[];
  root?: string;
}

/** Spawns main.ts with `env` (on top of this process's) and resolves once /readyz answers 200. */
export async function startTierstream(env: Record<string, string>, port: number, signal: AbortSignal, opts: SpawnOptions = {}): Promise<TierstreamProcess> {
  const proc = spawnTierstream(env, port, opts);
  await proc.ready(signal);
  return proc;
}

/** How tierstream is run: `node dist/main.js` with BENCH_RUN=compiled, else the sources through tsx. */
export const tierstreamCommand = (): string => (process.env.BENCH_RUN === 'compiled' ? 'node dist/main.js' : 'node --import tsx main.ts');

/**
 * Spawns main.ts with `env` (on top of this process's) and returns at once, the pids still
 * arriving; `ready()` resolves once every child has started and /readyz answers 200 (it stops
 * the processes and rejects when they exit first or take longer than READY_TIMEOUT_MS).
 */
export function spawnTierstream(env: Record<string, string>, port: number, opts: SpawnOptions = {}): TierstreamProcess & { ready(signal: AbortSignal): Promise<void> } {
  // Built before the clock starts: readySeconds is the start-up alone.
  const compiled = process.env.BENCH_RUN === 'compiled';
  if (compiled && spawnSync('scripts/build.sh', ['--if-stale'], { cwd: opts.root ?? repoRoot, stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed');
  const t0 = performance.now();
  const role = opts.role ?? 'all';
  const engines = role === 'api' ? 0 : Number(env.TIERSTREAM_ENGINE_PROCESSES ?? process.env.TIERSTREAM_ENGINE_PROCESSES ?? 1);
  const child: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...(compiled ? ['dist/main.js'] : ['--import', 'tsx', 'main.ts'])], {
    cwd: opts.root ?? repoRoot,
    env: { ...process.env, ...env, TIERSTREAM_ROLE: role, LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pids: Partial<TierstreamProcess['pids']> & { engines: number[] } = { supervisor: child.pid, engines: [] };
  // Role api or engine alone: the process is the api, or the only engine (and stands in as the
  // supervisor, for stop()).
  if (role === 'api') pids.api = child.pid;
  if (role === 'engine') (pids.engine = child.pid), pids.engines.push(child.pid!);
  const tail: string[] = [];
  const warnings: string[] = [];
  let exit: { code: number | null; signal: string | null } | undefined;
  const exitP = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, sig) => resolve((exit = { code, signal: sig }))));
  const onLine = (line: string) => {
    if (!line.trim()) return;
    tail.push(line);
    if (tail.length > LOG_TAIL) tail.shift();
    try {
      const j = JSON.parse(line) as { msg?: string; role?: string; pid?: number; level?: number };
      if (j.msg === 'process started' && typeof j.pid === 'number') {
        if (j.role === 'api') pids.api = j.pid;
        if (j.role === 'engine') (pids.engine ??= j.pid), pids.engines.push(j.pid);
      }
      if ((j.level ?? 0) >= 40) warnings.push(line);
    } catch {
      warnings.push(line); // not a log line: a crash's stack, say
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) (onLine(buf.slice(0, i)), (buf = buf.slice(i + 1)));
    });
  }
  const baseUrl = `http://127.0.0.1:${port}`;
  const kill = () => {
    for (const pid of new Set([pids.api, ...pids.engines, pids.supervisor])) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  };
  const proc = {
    pids: pids as TierstreamProcess['pids'],
    baseUrl,
    readySeconds: 0,
    warnings,
    exited: () => exit !== undefined,
    async stop() {
      const t = performance.now();
      if (!exit) child.kill('SIGTERM');
      const timer = setTimeout(kill, STOP_TIMEOUT_MS);
      const r = await exitP;
      clearTimeout(timer);
      return { ...r, seconds: Math.round(performance.now() - t) / 1000 };
    },
    async ready(signal: AbortSignal) {
      try {
        for (;;) {
          signal.throwIfAborted();
          if (exit) throw new Error(`tierstream exited (${exit.signal ?? exit.code}) before it was ready:\n${tail.join('\n')}`);
          if (performance.now() - t0 > READY_TIMEOUT_MS) throw new Error(`tierstream not ready after ${READY_TIMEOUT_MS / 1000} s:\n${tail.join('\n')}`);
          if (pids.engines.length >= engines && pids.api) {
            const res = await fetch(`${baseUrl}/readyz`).catch(() => undefined);
            if (res?.status === 200) break;
            await res?.body?.cancel();
          }
          await sleep(100);
        }
      } catch (err) {
        await proc.stop();
        throw err;
      }
      proc.readySeconds = Math.round(performance.now() - t0) / 1000;
    },
  };
  return proc;
}
