/**
 * `npm run test:faults`: every fault scenario at full size, one after the other, then the
 * table (scenario, events, lost, unexpected, duplicates, hot-state mismatches, time) and the
 * last line `N passed, N failed`. `--short` runs the versions `npm test` runs; ids select
 * scenarios (`npm run test:faults -- 4 7a`); `REDIS_CLUSTER_NODES` in the environment runs
 * them against a Redis Cluster (`npm run test:faults:cluster` starts one and runs 1 and 7;
 * scenario 7 then restarts each master empty in turn).
 *
 * Writes the rows as JSON to test/faults/results/<time>.json (git-ignored).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { all, type Size } from './scenarios.js';
import { clean, root, type Verdict } from './harness.js';

const args = process.argv.slice(2);
const size: Size = args.includes('--short') ? 'short' : 'full';
const picks = args.filter((a) => !a.startsWith('--'));
const cluster = process.env.REDIS_CLUSTER_NODES;
const env = cluster ? { REDIS_CLUSTER_NODES: cluster } : {};

const rows: Verdict[] = [];
for (const { id, run } of all(size, env)) {
  if (picks.length && !picks.includes(id)) continue;
  const v = await run();
  rows.push(v);
  console.log(`${clean(v) ? 'ok  ' : 'FAIL'} ${v.scenario} (${v.seconds} s)`);
  for (const n of v.notes) console.log(`     ${n}`);
  for (const f of v.failures) console.log(`     ! ${f}`);
}

const header = ['scenario', 'events', 'lost', 'unexpected', 'duplicates', 'hot mismatches', 'seconds', 'result'];
const cells = rows.map((v) => [v.scenario, v.events, v.lost, v.unexpected, v.duplicates, v.hotMismatches, v.seconds, clean(v) ? 'ok' : 'FAIL'].map(String));
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${cells.map(line).join('\n')}\n`);

const dir = join(root, 'test/faults/results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${size}.json`);
writeFileSync(file, JSON.stringify({ size, cluster: cluster ?? null, rows }, null, 2));
console.log(`results written to ${file}`);
const failed = rows.filter((v) => !clean(v)).length;
console.log(`${rows.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
