/**
 * The benchmark suite.
 *
 *   npm run bench [-- NAME...] [--option N ...]     (tsx bench/run.ts ...)
 *
 * With no name every benchmark runs. Each prints its question and its parameters (value and
 * default) first, then a table, and writes JSON to bench/results/. Ctrl-C cleans up and exits.
 */
import { parseArgs } from 'node:util';
import { ingest } from './ingest/benchmark.js';
import { tiers } from './tiers/benchmark.js';
import { lookups } from './lookups/benchmark.js';
import { checkProfile } from './lookups/check-profile.js';
import { countCheck } from './lookups/count-check.js';
import { hot } from './hot/benchmark.js';
import { sources } from './sources/benchmark.js';
import { startup } from './startup.js';
import { counts } from './counts.js';
import { producerBench } from './producer.js';
import { table } from './measure.js';
import type { Benchmark } from './types.js';

const BENCHMARKS: Benchmark[] = [ingest, tiers, lookups, checkProfile, countCheck, hot, sources, startup, producerBench, counts];

function usage(): string {
  const lines = ['usage: npm run bench -- [NAME...] [--option N ...]', '', 'benchmarks:'];
  for (const b of BENCHMARKS) {
    lines.push(`  ${b.name}: ${b.question}`);
    for (const [name, o] of Object.entries(b.options)) lines.push(`    --${name} N`.padEnd(28) + `${o.description} (default ${o.default})`);
    for (const [name, o] of Object.entries(b.listOptions ?? {})) lines.push(`    --${name} N,N`.padEnd(28) + `${o.description} (default ${o.default.join(',')})`);
    for (const [name, o] of Object.entries(b.textOptions ?? {})) lines.push(`    --${name} TEXT`.padEnd(28) + o.description);
  }
  return lines.join('\n');
}

function fail(message: string): never {
  console.error(`bench: ${message}\n\n${usage()}`);
  process.exit(2);
}

const optionSpecs = Object.fromEntries(
  BENCHMARKS.flatMap((b) => [...Object.keys(b.options), ...Object.keys(b.listOptions ?? {}), ...Object.keys(b.textOptions ?? {})]).map((name) => [name, { type: 'string' as const }]),
);

let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
try {
  parsed = parseArgs({ options: { ...optionSpecs, help: { type: 'boolean' } }, allowPositionals: true });
} catch (err) {
  fail((err as Error).message);
}
if (parsed.values.help) {
  console.log(usage());
  process.exit(0);
}

const selected = parsed.positionals.length === 0 ? BENCHMARKS : parsed.positionals.map((name) => {
  const b = BENCHMARKS.find((x) => x.name === name);
  if (!b) fail(`unknown benchmark "${name}"; known: ${BENCHMARKS.map((x) => x.name).join(', ')}`);
  return b;
});

for (const name of Object.keys(parsed.values)) {
  if (name !== 'help' && !selected.some((b) => name in b.options || name in (b.listOptions ?? {}) || name in (b.textOptions ?? {}))) fail(`--${name} is not an option of ${selected.map((b) => b.name).join(', ')}`);
}

function paramsOf(b: Benchmark): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, o] of Object.entries(b.options)) {
    const raw = parsed.values[name] as string | undefined;
    const v = raw === undefined ? o.default : Number(raw.replaceAll('_', ''));
    if (!Number.isSafeInteger(v) || v < o.min) fail(`--${name}: expected an integer >= ${o.min}, got "${raw}"`);
    out[name] = v;
  }
  return out;
}

function listsOf(b: Benchmark): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, o] of Object.entries(b.listOptions ?? {})) {
    const raw = parsed.values[name] as string | undefined;
    const v = raw === undefined ? [...o.default] : raw.split(',').map((x) => Number(x.trim().replaceAll('_', '')));
    if (v.length === 0 || v.some((x) => !Number.isSafeInteger(x) || x < o.min)) fail(`--${name}: expected integers >= ${o.min}, comma separated, got "${raw}"`);
    out[name] = v;
  }
  return out;
}

// Validate every selected benchmark's parameters before running any of them.
const plans = selected.map((b) => ({ b, params: paramsOf(b), lists: listsOf(b) }));

const stop = new AbortController();
process.once('SIGINT', () => {
  console.error('\nbench: interrupted; cleaning up (Ctrl-C again to quit at once)');
  stop.abort(new Error('interrupted'));
  process.once('SIGINT', () => process.exit(130));
});

let failed = false;
for (const { b, params, lists } of plans) {
  console.log(`\n== ${b.name} ==\n${b.question}\n`);
  console.log(table(
    ['parameter', 'value', 'default', 'meaning'],
    [
      ...Object.entries(b.options).map(([name, o]) => [`--${name}`, params[name]!, o.default, o.description]),
      ...Object.entries(b.listOptions ?? {}).map(([name, o]) => [`--${name}`, lists[name]!.join(','), o.default.join(','), o.description]),
    ],
  ));
  console.log();
  try {
    const text = Object.fromEntries(Object.keys(b.textOptions ?? {}).map((name) => [name, parsed.values[name] as string | undefined]));
    await b.run(params, stop.signal, lists, text);
  } catch (err) {
    failed = true;
    console.error(`bench: ${b.name} failed: ${(err as Error).stack ?? String(err)}`);
  }
  if (stop.signal.aborted) break;
}
process.exit(stop.signal.aborted ? 130 : failed ? 1 : 0);
