/**
 * Runs the uvu suites (unit, integration, faults (short fault scenarios), then e2e in Chromium, or the ones named) and ends with the line
 * `N passed, N failed`, as CI and the README promise.
 *
 *   tsx test/run.ts [unit] [integration] [faults] [e2e]   (no argument: type check, layout check and all four)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const suites = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'faults', 'e2e'];
let passed = 0;
let failed = 0;

// The type check counts as one test: a type error fails the run but the suites still run.
if (!process.argv.slice(2).length) {
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', root], { cwd: root, encoding: 'utf8' });
  process.stdout.write(tsc.stdout);
  if (tsc.status === 0) passed++;
  else failed++;
  console.log(`typecheck: ${tsc.status === 0 ? 'ok' : 'FAILED'}`);
  // The layout's floors (.dependency-cruiser.cjs) count as one test too.
  const cruise = spawnSync(process.execPath, [join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'), '--config', '.dependency-cruiser.cjs', 'main.ts', 'runtime.ts', 'config.ts', 'supervisor.ts', 'metrics.ts', 'core', 'engine', 'storage', 'api', 'client'], { cwd: root, encoding: 'utf8' });
  if (cruise.status !== 0) process.stdout.write(cruise.stdout + cruise.stderr);
  if (cruise.status === 0) passed++;
  else failed++;
  console.log(`layout: ${cruise.status === 0 ? 'ok' : 'FAILED'}`);
}

/**
 * Longest one suite may run before it is killed and counted as failed: a test that hangs (a
 * promise that never settles) must end in a red line, not in a CI job that never ends.
 */
const SUITE_TIMEOUT_MS = Number(process.env.TEST_SUITE_TIMEOUT_MS ?? 20 * 60_000);

/**
 * The integration suite's apps check every answer against the OpenAPI document
 * (test/integration/answers.ts) and write what they found here; it counts as one test.
 */
const answersFile = join(mkdtempSync(join(tmpdir(), 'tierstream-answers-')), 'answers.jsonl');

for (const suite of suites) {
  const res = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), join('test', suite), '\\.test\\.ts$'],
    {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent', ...(suite === 'integration' && { TIERSTREAM_TEST_ANSWERS: answersFile }) },
      encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: SUITE_TIMEOUT_MS, killSignal: 'SIGKILL',
    },
  );
  process.stdout.write(res.stdout);
  process.stderr.write(res.stderr);
  if (res.signal === 'SIGKILL' && (res.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') {
    console.log(`suite ${suite}: still running after ${SUITE_TIMEOUT_MS / 1000} s, killed (a test hangs: the files above finished, the next one did not)`);
  }
  const total = Number(/Total:\s+(\d+)/.exec(res.stdout)?.[1] ?? 0);
  const ok = Number(/Passed:\s+(\d+)/.exec(res.stdout)?.[1] ?? 0);
  // uvu's Total counts the tests that ran; skipped ones are not in it.
  let bad = total - ok;
  // A file that crashed before its tests ran reports no totals: count the suite as failed.
  if (res.status !== 0 && bad === 0) bad = 1;
  passed += ok;
  failed += bad;
  if (suite === 'integration') {
    const reports = existsSync(answersFile) ? readFileSync(answersFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { checked: number; violations: string[] }) : [];
    const checked = reports.reduce((n, r) => n + r.checked, 0);
    const violations = reports.flatMap((r) => r.violations);
    if (checked > 0 && violations.length === 0) passed++;
    else failed++;
    console.log(`answers as documented: ${checked} answers checked against the OpenAPI document, ${violations.length} not as documented${checked === 0 ? ' (none checked: FAILED)' : ''}`);
    for (const v of violations) console.log(`  ${v}`);
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
