/** The lookups benchmark's printed lines, tables and target verdicts. */
import { table } from '../measure.js';
import { formatSlowlog } from '../slowlog.js';
import {
  TARGET_CEILING_SHARE, TARGET_DRAIN_EVENTS_PER_SECOND, TARGET_P99_DRAIN_MS, TARGET_P99_IDLE_MS, TARGET_RATE,
} from './context.js';
import { OTHER_CPU_LIMIT_SECONDS, type PhaseResult } from './phases.js';
import type { KeyBytes, NewIndexMemory } from './new-leaves.js';

const fmt = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');

/** Process labels in the CPU table, in order. */
const PROCESSES = ['load generator', 'bare Fastify', 'api', 'engine', 'supervisor', 'redis', 'nats', 'clickhouse', 'bench'];

export function printPhase(r: PhaseResult): void {
  const l = r.latencyMs;
  const offered = r.rate ? `offered ${fmt(r.rate)}/s, ` : '';
  console.log(`${r.phase}: ${offered}${fmt(r.checks)} checks in ${r.seconds.toFixed(2)} s = ${fmt(r.checksPerSecond)}/s; ` +
    `latency ms (${r.loop === 'open' ? 'from due time' : 'from send'}) p50 ${ms(l.p50)} p90 ${ms(l.p90)} p99 ${ms(l.p99)} p99.9 ${ms(l.p999)} max ${ms(l.max)}; ` +
    `errors ${r.errors}, non-2xx ${r.non2xx}`);
  if ('sendLagMs' in r.load) {
    const o = r.load;
    console.log(`  generator: sent late by p50 ${ms(o.sendLagMs.p50)} p99 ${ms(o.sendLagMs.p99)} max ${ms(o.sendLagMs.max)} ms ` +
      `(clock thread woke late p99 ${ms(o.clockLagMs.p99)}); from send p99 ${ms(o.fromSendMs.p99)} ms; ` +
      `peak ${o.peakInflight} in flight on ${o.sockets} sockets, ${o.queuedForSocket} waited for a socket; ${o.cpuUsPerRequest} us CPU per request`);
  }
  const c = r.cpu;
  console.log(`  CPU s: ${PROCESSES.filter((k) => k in c.seconds).map((k) => `${k} ${c.seconds[k]!.toFixed(2)}`).join(', ')}; ` +
    `anything else ${c.otherSeconds?.toFixed(2) ?? '?'}, of it interrupts ${c.interruptSeconds?.toFixed(2) ?? '?'} (all cores busy ${c.machineBusySeconds?.toFixed(2) ?? '?'} s, stolen ${c.stealSeconds?.toFixed(2) ?? '?'} s)`);
  const waits = PROCESSES.filter((k) => Number.isFinite(c.mainThreadWaitSeconds[k]));
  console.log(`  main thread waited for a core, s: ${waits.map((k) => `${k} ${c.mainThreadWaitSeconds[k]!.toFixed(2)}`).join(', ')}`);
  const redis = Object.entries(r.redisCommands).slice(0, 4);
  const redisPerCheck = Object.values(r.redisCommands).reduce((t, c) => t + c.usec, 0) / Math.max(1, r.checks);
  console.log(`  Redis (INFO commandstats, all clients): ${redis.map(([k, v]) => `${k} ${fmt(v.calls)}x ${v.usecPerCall} us`).join(', ') || 'nothing'}; ` +
    `${fmt(redisPerCheck)} us of Redis time per check`);
  console.log(`  Redis SLOWLOG (longest single commands, all clients): ${formatSlowlog(r.slowlog)}`);
  if (!r.clean) {
    const top = r.cpu.topOthers.map((o) => `${o.comm} (pid ${o.pid}) ${o.seconds.toFixed(2)} s`).join(', ') || 'no single process: kernel time (interrupts)?';
    console.log(`  warning: processes outside the benchmark used ${r.cpu.otherSeconds!.toFixed(2)} CPU-s in this phase (${top}): its numbers are not clean`);
  }
  if (r.ingest) {
    const i = r.ingest;
    console.log(`  drain: ${fmt(i.eventsPerSecond)} events/s acknowledged (${fmt(i.deliveredPerSecond)}/s delivered), num_pending ${fmt(i.pendingAtStart)} -> ${fmt(i.pendingAtEnd)}` +
      `${i.ranOut ? ' (RAN OUT: raise --backlog or lower --duration)' : ''}; us CPU per event: ${Object.entries(i.usPerEvent).map(([k, v]) => `${k} ${Number.isFinite(v) ? v : '-'}`).join(', ')}`);
  }
}

export interface TargetVerdict { target: string; actual: string; met: boolean | null }

/** The targets are stated for the existing filter: the new filter's phases are compared with it (compareFilters), not targeted. */
export function summarize(phases: PhaseResult[]) {
  const find = (server: string, loop: string, rate?: number, drain?: boolean) =>
    phases.find((r) => r.server === server && r.loop === loop && r.rate === rate && !!r.drain === !!drain && (r.filter ?? 'existing') === 'existing');
  const bare = find('bare Fastify', 'closed');
  const idleMax = find('tierstream', 'closed');
  const idle = find('tierstream', 'open', TARGET_RATE);
  const drain = find('tierstream', 'open', TARGET_RATE, true);
  const share = bare && idleMax ? idleMax.checksPerSecond / bare.checksPerSecond : NaN;
  const verdicts: TargetVerdict[] = [
    {
      target: `open-loop p99 <= ${TARGET_P99_IDLE_MS} ms at ${TARGET_RATE} checks/s, idle`,
      actual: idle ? `${ms(idle.latencyMs.p99)} ms` : `not measured (no ${TARGET_RATE}/s phase)`,
      met: idle ? idle.latencyMs.p99 <= TARGET_P99_IDLE_MS && idle.errors + idle.non2xx === 0 : null,
    },
    {
      target: `open-loop p99 <= ${TARGET_P99_DRAIN_MS} ms at ${TARGET_RATE} checks/s while a backlog drains at >= ${fmt(TARGET_DRAIN_EVENTS_PER_SECOND)} events/s`,
      actual: drain?.ingest ? `${ms(drain.latencyMs.p99)} ms at ${fmt(drain.ingest.eventsPerSecond)} events/s${drain.ingest.ranOut ? ' (backlog ran out)' : ''}` : 'not measured',
      met: drain?.ingest
        ? drain.latencyMs.p99 <= TARGET_P99_DRAIN_MS && drain.ingest.eventsPerSecond >= TARGET_DRAIN_EVENTS_PER_SECOND && !drain.ingest.ranOut && drain.errors + drain.non2xx === 0
        : null,
    },
    {
      target: `closed-loop checks/s >= ${TARGET_CEILING_SHARE} x bare Fastify (same run)`,
      actual: bare && idleMax ? `${fmt(idleMax.checksPerSecond)} / ${fmt(bare.checksPerSecond)} = ${share.toFixed(3)}` : 'not measured',
      met: Number.isFinite(share) ? share >= TARGET_CEILING_SHARE : null,
    },
  ];
  const errors = phases.reduce((s, r) => s + r.errors + r.non2xx, 0);
  const notClean = phases.filter((r) => !r.clean).map((r) => r.phase);
  return { tierstreamOverBare: Number.isFinite(share) ? Math.round(share * 1000) / 1000 : null, errorsAndNon2xx: errors, notClean, targets: verdicts };
}

export function printSummary(phases: PhaseResult[], s: ReturnType<typeof summarize>): void {
  console.log('\nlatency (ms; open loop: from each request\'s due time; closed loop: from its send) and throughput\n');
  console.log(table(
    ['phase', 'loop', 'offered/s', 'checks/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'errors+non-2xx', 'gen late p99', 'drain ev/s', 'num_pending at end'],
    phases.map((r) => [
      r.phase, r.loop, r.rate ?? 'max', r.checksPerSecond, ms(r.latencyMs.p50), ms(r.latencyMs.p90), ms(r.latencyMs.p99), ms(r.latencyMs.p999),
      ms(r.latencyMs.max), r.errors + r.non2xx, 'sendLagMs' in r.load ? ms(r.load.sendLagMs.p99) : '-',
      r.ingest ? r.ingest.eventsPerSecond : '-', r.ingest ? r.ingest.pendingAtEnd : '-',
    ]),
  ));
  const shown = PROCESSES.filter((k) => phases.some((r) => k in r.cpu.seconds));
  console.log('\nCPU per check, us, by process (engine: also per event acknowledged during a drain)\n');
  console.log(table(
    ['phase', ...shown, 'anything else, s', 'engine us/event'],
    phases.map((r) => [
      r.phase, ...shown.map((k) => (k in r.cpu.usPerCheck && Number.isFinite(r.cpu.usPerCheck[k]) ? r.cpu.usPerCheck[k]! : '-')),
      r.cpu.otherSeconds?.toFixed(2) ?? '-', r.ingest && Number.isFinite(r.ingest.engineUsPerEvent) ? r.ingest.engineUsPerEvent : '-',
    ]),
  ));
  // nats-server and clickhouse-server work on other threads than their main one: left out.
  const waited = PROCESSES.filter((k) => !['bench', 'nats', 'clickhouse'].includes(k) && phases.some((r) => Number.isFinite(r.cpu.mainThreadWaitSeconds[k])));
  console.log('\nseconds each main thread waited in the run queue for a core during the window (single-threaded work: Node, Redis)\n');
  console.log(table(['phase', 'window s', ...waited], phases.map((r) => [
    r.phase, r.seconds.toFixed(1), ...waited.map((k) => (Number.isFinite(r.cpu.mainThreadWaitSeconds[k]) ? r.cpu.mainThreadWaitSeconds[k]!.toFixed(2) : '-')),
  ])));
  const drains = phases.filter((r) => r.ingest);
  if (drains.length) {
    const keys = Object.keys(drains[0]!.ingest!.usPerEvent);
    console.log('\nduring the drain: CPU per event acknowledged, us (the services also serve the checks)\n');
    console.log(table(['phase', 'events/s', ...keys, 'num_pending start', 'num_pending end'], drains.map((r) => [
      r.phase, r.ingest!.eventsPerSecond, ...keys.map((k) => (Number.isFinite(r.ingest!.usPerEvent[k]) ? r.ingest!.usPerEvent[k]! : '-')),
      r.ingest!.pendingAtStart, r.ingest!.pendingAtEnd,
    ])));
  }
  console.log('\ntargets (reported, not asserted)\n');
  console.log(table(['target', 'actual', 'result'], s.targets.map((t) => [t.target, t.actual, t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met'])));
  if (s.errorsAndNon2xx) console.log(`\nwarning: ${s.errorsAndNon2xx} errors or non-2xx answers over the phases`);
  if (s.notClean.length) console.log(`\nwarning: something outside the benchmark used over ${OTHER_CPU_LIMIT_SECONDS} CPU-s during ${s.notClean.join('; ')}: those numbers are not clean, run again`);
}

/** Microseconds of CPU per check the lookup path costs: the API process and Redis. */
const API_REDIS = ['api', 'redis'];

export interface FilterComparison {
  /** The existing filter's phase label; the new one's is it with ", new leaves". */
  phase: string;
  loop: 'closed' | 'open';
  rate?: number;
  drain: boolean;
  existing: { checksPerSecond: number; p50: number; p99: number; apiUs: number; redisUs: number; evalshaPerCheck: number; clean: boolean };
  new: FilterComparison['existing'];
  /** new / existing. */
  ratio: { checksPerSecond: number; p50: number; p99: number; apiUs: number; redisUs: number; apiRedisUs: number };
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Each tierstream phase of the existing filter beside the same phase of the new filter, and their ratios. */
export function compareFilters(phases: PhaseResult[]): FilterComparison[] {
  const out: FilterComparison[] = [];
  const side = (r: PhaseResult): FilterComparison['existing'] => ({
    checksPerSecond: r.checksPerSecond, p50: r.latencyMs.p50, p99: r.latencyMs.p99,
    apiUs: r.cpu.usPerCheck.api ?? NaN, redisUs: r.cpu.usPerCheck.redis ?? NaN,
    evalshaPerCheck: Math.round(((r.redisCommands.evalsha?.calls ?? 0) / Math.max(1, r.checks)) * 100) / 100, clean: r.clean,
  });
  for (const e of phases) {
    if (e.server !== 'tierstream' || (e.filter ?? 'existing') !== 'existing') continue;
    const n = phases.find((r) => r.filter === 'new' && r.loop === e.loop && r.rate === e.rate && !!r.drain === !!e.drain && r.server === e.server);
    if (!n) continue;
    const a = side(e), b = side(n);
    out.push({
      phase: e.phase, loop: e.loop, ...(e.rate !== undefined && { rate: e.rate }), drain: !!e.drain, existing: a, new: b,
      ratio: {
        checksPerSecond: r3(b.checksPerSecond / a.checksPerSecond), p50: r3(b.p50 / a.p50), p99: r3(b.p99 / a.p99),
        apiUs: r3(b.apiUs / a.apiUs), redisUs: r3(b.redisUs / a.redisUs), apiRedisUs: r3((b.apiUs + b.redisUs) / (a.apiUs + a.redisUs)),
      },
    });
  }
  return out;
}

export function printComparison(rows: FilterComparison[]): void {
  if (rows.length === 0) return;
  console.log(`\nnew-leaf filter against the existing filter, same phase (ratio new / existing); CPU: ${API_REDIS.join(' + ')} us per check\n`);
  console.log(table(
    ['phase', 'checks/s', 'p50 ms', 'p99 ms', 'api us', 'redis us', 'EVALSHA/check', 'p50 x', 'p99 x', 'api x', 'redis x', 'api+redis x', 'clean'],
    rows.map((c) => [
      c.phase, `${fmt(c.existing.checksPerSecond)} / ${fmt(c.new.checksPerSecond)}`, `${ms(c.existing.p50)} / ${ms(c.new.p50)}`, `${ms(c.existing.p99)} / ${ms(c.new.p99)}`,
      `${c.existing.apiUs} / ${c.new.apiUs}`, `${c.existing.redisUs} / ${c.new.redisUs}`, `${c.existing.evalshaPerCheck} / ${c.new.evalshaPerCheck}`,
      c.ratio.p50.toFixed(2), c.ratio.p99.toFixed(2), c.ratio.apiUs.toFixed(2), c.ratio.redisUs.toFixed(2), c.ratio.apiRedisUs.toFixed(2),
      c.existing.clean && c.new.clean ? 'yes' : 'no',
    ]),
  ));
}

export function printMemory(m: NewIndexMemory): void {
  const row = (name: string, k: KeyBytes) => [name, k.keys, k.hashtables, fmt(k.bytes), k.bytesPerUser.toFixed(1)];
  console.log(`\nRedis bytes (MEMORY USAGE SAMPLES 0 of every key) of the ${fmt(m.users)} users' sources and of the new indexes\n`);
  console.log(table(['keys of', 'keys', 'hash tables', 'bytes', 'bytes per user'], [
    ...Object.entries(m.sources).map(([name, k]) => row(name, k)),
    row('any:message (pseudo-source)', m.anyMessage),
    row('campaign:L1 without link aliases (scratch copy)', m.alias.withoutAliases.l1),
    row('any:message without link aliases (scratch copy)', m.alias.withoutAliases.anyMessage),
  ]));
  const a = m.alias;
  console.log(`alias indexes (bytes against the same events without link aliases, scratch namespace): ${fmt(a.inL1)} in L1 + ${fmt(a.inAnyMessage)} in any:message = ` +
    `${fmt(a.bytes)} bytes, ${a.bytesPerUser} per user, ${a.bytesPerAliasedClick} per aliased click (${fmt(a.aliasedClicks)} clicks with an alias)\n`);
}
