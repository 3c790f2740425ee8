/**
 * The benchmarks' headline figures as SVG charts (bench/svg.ts) under bench/charts/, shown by
 * bench/README.md. Each benchmark draws its own at the end of a run; this file also redraws
 * them from saved results:
 *
 *   npx tsx bench/charts.ts bench/results/<benchmark>-<time>.json ...
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { barChart, lineChart, writeChart } from './svg.js';

interface IngestPhase { phase: string; eventsPerSecond: number; usPerEvent: Record<string, number> }
interface IngestSummary { a0?: IngestPhase; a1?: IngestPhase; a2?: IngestPhase; tierstream: Record<string, IngestPhase> }

/** Ingest: events/s and CPU µs per event (all processes) of the floors and of tierstream per process count. */
export function drawIngest(summary: IngestSummary): string[] {
  const phases = [summary.a0, summary.a1, summary.a2, ...Object.values(summary.tierstream)].filter((p): p is IngestPhase => !!p);
  return [
    writeChart('ingest-throughput', barChart({ title: 'Ingest: events per second (same run)', x: 'events per second', bars: phases.map((p) => ({ label: shortPhase(p.phase), value: p.eventsPerSecond })) })),
    writeChart('ingest-cpu', barChart({ title: 'Ingest: CPU per event, all processes', x: 'CPU µs per event', bars: phases.map((p) => ({ label: shortPhase(p.phase), value: p.usPerEvent.total ?? NaN })) })),
  ];
}

interface LookupPhase { phase: string; loop: 'open' | 'closed'; checksPerSecond: number; latencyMs: { p50: number; p99: number } }

/** Lookups: open-loop p50 and p99 per phase, and the closed-loop maximum rate beside bare Fastify. */
/** A lookups phase's label in a chart: without "tierstream ", so the longest (", new leaves") fit the label column. */
const shortPhase = (phase: string) => phase.replace('tierstream ', '').slice(0, 40);

export function drawLookups(phases: LookupPhase[]): string[] {
  const open = phases.filter((p) => p.loop === 'open');
  const closed = phases.filter((p) => p.loop === 'closed');
  return [
    writeChart('lookups-open-loop-p99', barChart({ title: 'Check (100 ids), open loop: p99 latency', x: 'ms', bars: open.map((p) => ({ label: shortPhase(p.phase), value: p.latencyMs.p99 })) })),
    writeChart('lookups-open-loop-p50', barChart({ title: 'Check (100 ids), open loop: p50 latency', x: 'ms', bars: open.map((p) => ({ label: shortPhase(p.phase), value: p.latencyMs.p50 })) })),
    writeChart('lookups-closed-loop', barChart({ title: 'Check (100 ids), closed loop: maximum rate', x: 'checks per second', bars: closed.map((p) => ({ label: shortPhase(p.phase), value: p.checksPerSecond })) })),
  ];
}

export interface SizePoint {
  events: number;
  restoreSeconds: number;
  demoteSeconds: number;
  bytesPerMember: number;
  checksPerSecond: { latest: number; rawEvents: number };
  underIngest?: { restoreSeconds: number };
}

/** Tiers --sizes: how restore, demotion, history checks and Redis bytes grow with the source. */
export function drawSizes(results: SizePoint[]): string[] {
  const by = (f: (r: SizePoint) => number): [number, number][] => results.map((r) => [r.events, f(r)]);
  return [
    writeChart('tiers-sizes-seconds', lineChart({
      title: 'Restore and demotion time by source size', x: 'interactions in the source', y: 'seconds', logX: true, logY: true,
      series: [
        { name: 'restore, idle', points: by((r) => r.restoreSeconds) },
        { name: 'restore, under ingest', points: by((r) => r.underIngest?.restoreSeconds ?? NaN) },
        { name: 'demotion', points: by((r) => r.demoteSeconds) },
      ],
    })),
    writeChart('tiers-sizes-checks', lineChart({
      title: 'History check (100 users) by source size', x: 'interactions in the source', y: 'checks per second', logX: true,
      series: [
        { name: 'from latest', points: by((r) => r.checksPerSecond.latest) },
        { name: 'from raw events', points: by((r) => r.checksPerSecond.rawEvents) },
      ],
    })),
    writeChart('tiers-sizes-memory', lineChart({
      title: 'Redis bytes per hot member by source size', x: 'interactions in the source', y: 'bytes per member', logX: true,
      series: [{ name: 'bytes / member', points: by((r) => r.bytesPerMember) }],
    })),
  ];
}

/**
 * Redraws the charts of saved result files. `hot` results are drawn together (a 10M run is
 * usually a run of its own beside the 100k,1M one): every hot file given, its sizes in order.
 */
async function main(files: string[]): Promise<void> {
  const hot: unknown[] = [];
  for (const f of files) {
    const r = JSON.parse(readFileSync(f, 'utf8'));
    if (r.benchmark === 'hot') {
      hot.push(...r.results);
      continue;
    }
    const written = r.benchmark === 'ingest' ? drawIngest(r.summary) : r.benchmark === 'lookups' ? drawLookups(r.phases) : r.mode === 'sizes' ? drawSizes(r.results) : [];
    if (written.length === 0) console.error(`${f}: no chart for this result`);
    for (const w of written) console.log(`chart written to ${w}`);
  }
  if (hot.length) {
    const { drawHot } = await import('./hot/benchmark.js');
    for (const w of drawHot(hot as Parameters<typeof drawHot>[0])) console.log(`chart written to ${w}`);
  }
}

// Not awaited at the top level: hot/benchmark.ts imports this module again (through tiers/sizes.ts).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2)).catch((err) => (console.error(err), process.exit(1)));
