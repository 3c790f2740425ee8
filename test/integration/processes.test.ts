import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { getPriority } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, eventually, testConfig, testNamespace } from './helpers.js';
import { createTierstream } from '../../runtime.js';

/**
 * `npm start`'s process model: role `all` runs ingest and the API as separate OS processes
 * under a supervisor; ingest at a lower CPU priority; a child that dies takes the whole down
 * (non-zero), SIGTERM drains everything (zero).
 */
const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const test = suite('processes');

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const port = (s.address() as { port: number }).port;
    s.close(() => resolve(port));
  });
});

interface Started { child: ChildProcess; pids: Map<string, number>; exited: Promise<number | null>; port: number; ns: string; log: () => string }

async function start(env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const ns = testNamespace('p');
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'main.ts')], {
    cwd: root,
    env: { ...process.env, TIERSTREAM_NAMESPACE: ns, PORT: String(port), LOG_LEVEL: 'info', TIERSTREAM_ROLE: 'all', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const pids = new Map<string, number>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const line of chunk.split('\n')) {
      if (!line.includes('process started')) continue;
      try {
        const j = JSON.parse(line) as { role: string; pid: number };
        pids.set(`${j.role}:${pids.size}`, j.pid);
      } catch { /* a partial line: the next chunk has the rest */ }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, `API on ${port}; log: ${out.slice(-2000)}`, 60_000);
  await eventually(async () => [...pids.keys()].some((k) => k.startsWith('engine')), 'engine process started');
  return { child, pids, exited, port, ns, log: () => out };
}

const pidOf = (s: Started, role: string) => [...s.pids].find(([k]) => k.startsWith(role))![1];
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function removeNamespace(ns: string) {
  const ts = await createTierstream(testConfig(ns, { TIERSTREAM_ROLE: 'api' }));
  await cleanup(ts, ns);
}

test('ingest and the API are separate processes; ingest runs at a lower priority; SIGTERM drains both and exits 0', async () => {
  const s = await start();
  try {
    const engine = pidOf(s, 'engine');
    const api = pidOf(s, 'api');
    assert.is.not(engine, api);
    assert.is.not(engine, s.child.pid);
    assert.is(getPriority(engine), 10);
    assert.is(getPriority(api), getPriority(s.child.pid!));
    // The API answers lookups from its own process.
    const res = await fetch(`http://127.0.0.1:${s.port}/v1/campaigns`);
    assert.is(res.status, 200);
    // A start-up line names where to go: console, API docs, metrics.
    await eventually(async () => s.log().includes(`tierstream started: console http://127.0.0.1:${s.port}/, API docs http://127.0.0.1:${s.port}/docs, metrics http://127.0.0.1:${s.port}/metrics`), 'start-up line with the URLs');
    // /metrics shows every process: the consumer lag only the ingest process measures.
    await eventually(async () => /^tierstream_consumer_lag_messages\{state="pending"\} \d+/m.test(await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text()), 'ingest metrics on the API port');
    s.child.kill('SIGTERM');
    assert.is(await s.exited, 0, s.log().slice(-2000));
    assert.not.ok(alive(engine), 'engine process gone');
    assert.not.ok(alive(api), 'API process gone');
  } finally {
    s.child.kill('SIGKILL');
    await removeNamespace(s.ns);
  }
});

test('killing the ingest process does not leave the API running silently: the whole exits non-zero', async () => {
  const s = await start({ TIERSTREAM_ENGINE_NICE: '0' });
  try {
    const engine = pidOf(s, 'engine');
    const api = pidOf(s, 'api');
    process.kill(engine, 'SIGKILL');
    assert.is(await s.exited, 1, s.log().slice(-2000));
    await eventually(async () => !alive(api), 'API process stopped after the ingest process died', 30_000);
    assert.match(s.log(), /a process exited on its own/);
  } finally {
    s.child.kill('SIGKILL');
    await removeNamespace(s.ns);
  }
});

test('TIERSTREAM_METRICS_LISTEN: every process\'s metrics on that address (the API processes share it), none on the API port', async () => {
  const metricsPort = await freePort();
  const s = await start({ TIERSTREAM_API_PROCESSES: '2', TIERSTREAM_METRICS_LISTEN: `127.0.0.1:${metricsPort}` });
  try {
    await eventually(async () => [...s.pids.keys()].filter((k) => k.startsWith('api')).length === 2, 'two API processes');
    // The consumer lag only the ingest process measures: summed in by the supervisor.
    await eventually(async () => /^tierstream_consumer_lag_messages\{state="pending"\} \d+/m.test(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()), 'ingest metrics on the metrics address');
    const answers = await Promise.all(Array.from({ length: 10 }, () => fetch(`http://127.0.0.1:${metricsPort}/metrics`)));
    assert.ok(answers.every((r) => r.status === 200));
    assert.is((await fetch(`http://127.0.0.1:${s.port}/metrics`)).status, 404, 'not on the API port');
    assert.ok(s.log().includes(`"metrics":"http://127.0.0.1:${metricsPort}/metrics"`), 'the start-up line names the metrics address');
    s.child.kill('SIGTERM');
    assert.is(await s.exited, 0, s.log().slice(-3000));
  } finally {
    s.child.kill('SIGKILL');
    await removeNamespace(s.ns);
  }
});

test('two API processes share the port', async () => {
  const s = await start({ TIERSTREAM_API_PROCESSES: '2' });
  try {
    await eventually(async () => [...s.pids.keys()].filter((k) => k.startsWith('api')).length === 2, 'two API processes');
    // Both listening before the SIGTERM: a process still binding when the supervisor stops has
    // its listen refused (EADDRINUSE from the cluster primary) and exits 1, which is not what this tests.
    await eventually(async () => s.log().split('Server listening at').length - 1 >= 2, 'both API processes listening');
    const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`http://127.0.0.1:${s.port}/healthz`)));
    assert.ok(answers.every((r) => r.ok));
    s.child.kill('SIGTERM');
    assert.is(await s.exited, 0, s.log().slice(-3000));
  } finally {
    s.child.kill('SIGKILL');
    await removeNamespace(s.ns);
  }
});

test.run();
