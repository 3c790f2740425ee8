import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, eventually, testConfig, testNamespace } from './helpers.js';
import { createTierstream } from '../../runtime.js';

/**
 * The production build (`npm run build`, scripts/build.sh) into a folder of its own, and what
 * `npm start` then runs: `node <out>/main.js`, whose supervisor forks compiled children (no
 * tsx), which read their Lua scripts and serve the console built at build time.
 */
const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const test = suite('build');

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const port = (s.address() as { port: number }).port;
    s.close(() => resolve(port));
  });
});

// Inside the checkout: the compiled files import their packages from its node_modules.
const scratch = join(root, '.scratch', `build-test-${process.pid}`);
const out = join(scratch, 'dist');

test('npm run build compiles main.ts and what it imports, with the Lua scripts and the console; --if-stale then has nothing to do', () => {
  const build = spawnSync(join(root, 'scripts/build.sh'), [out], { cwd: root, encoding: 'utf8' });
  assert.is(build.status, 0, build.stdout + build.stderr);
  for (const f of ['main.js', 'runtime.js', 'supervisor.js', 'api/index.js', 'package.json', 'console/index.html', 'console/app.css', 'console/app.js']) {
    assert.ok(existsSync(join(out, f)), `${f} built`);
  }
  const lua = readdirSync(join(root, 'storage/redis/lua')).filter((f) => f.endsWith('.lua'));
  assert.ok(lua.length > 0);
  for (const f of lua) assert.is(readFileSync(join(out, 'storage/redis/lua', f), 'utf8'), readFileSync(join(root, 'storage/redis/lua', f), 'utf8'), f);
  assert.not.ok(existsSync(join(out, 'test')), 'tests are not compiled');
  const again = spawnSync(join(root, 'scripts/build.sh'), ['--if-stale', out], { cwd: root, encoding: 'utf8' });
  assert.is(again.status, 0, again.stderr);
  assert.is(again.stderr, '', 'nothing newer than the build');
});

test('node dist/main.js (role all) forks compiled children, answers /healthz and serves the built console; SIGTERM exits 0', async () => {
  const ns = testNamespace('b');
  const port = await freePort();
  const child = spawn(process.execPath, [join(out, 'main.js')], {
    cwd: root,
    env: { ...process.env, TIERSTREAM_NAMESPACE: ns, PORT: String(port), LOG_LEVEL: 'info', TIERSTREAM_ROLE: 'all' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (log += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (log += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    // The log as it is when a wait fails, not when it starts.
    const withLog = (err: Error) => {
      throw new Error(`${err.message}; log: ${log.slice(-2000)}`);
    };
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, `API on ${port}`, 30_000).catch(withLog);
    const pids = () => log.split('\n').filter((l) => l.includes('"process started"')).map((l) => (JSON.parse(l) as { pid: number }).pid);
    await eventually(async () => pids().length === 2, 'two children started').catch(withLog);
    if (existsSync('/proc/self/cmdline')) {
      for (const pid of pids()) {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        assert.equal(argv, [process.execPath, join(out, 'main.js')], `child ${pid} runs the compiled entry point with no loader`);
      }
    }
    const js = await fetch(`http://127.0.0.1:${port}/console/app.js`);
    assert.is(js.status, 200);
    assert.ok(Buffer.from(await js.arrayBuffer()).equals(readFileSync(join(out, 'console/app.js'))), 'the console script is the one built');
    child.kill('SIGTERM');
    assert.is(await exited, 0, log.slice(-2000));
  } finally {
    child.kill('SIGKILL');
    const ts = await createTierstream(testConfig(ns, { TIERSTREAM_ROLE: 'api' }));
    await cleanup(ts, ns);
  }
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));

test.run();
