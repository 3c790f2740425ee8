/**
 * CPU of the API process per event on `POST /v1/events` (issue 25): what the HTTP ingestion
 * route costs, and how much of it is publishing to JetStream (the event sink).
 *
 *   npx tsx bench/ingest-http-cpu.ts [--batches 30] [--rounds 3] [--outstanding 2]
 *
 * In one process, on the services `npm start` uses: a tierstream of role `api`
 * (createTierstream, as the API process runs it; no engine, so nothing else of ours takes CPU
 * here) in a throwaway namespace `bench_http_<hex>`, its events stream created with the engine's
 * settings and deleted at the end. Requests are `app.inject` calls (Fastify's in-process
 * requests: routing, auth hooks, the JSON body parsed, the schema checked, the route's work; no
 * socket) of batches of 1,000 generated events (scripts/generate.ts) with fresh ids, serialised
 * before the clock starts, `--outstanding` requests at once. Each answer must be 200 with every
 * event `stored`. Measured: `process.cpuUsage()` (user + system, every thread) per event, in µs,
 * over `--batches` batches after a warm-up of 5; medians over rounds.
 *
 * Two phases per round:
 * - **floor**: the same routes built by buildApp with an event sink that resolves `stored` at
 *   once: everything but publishing;
 * - **api**: the real API, its sink publishing to JetStream and waiting for the acknowledgements.
 * api - floor is what the sink costs per event.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { configFromEnv } from '../config.js';
import { createTierstream } from '../runtime.js';
import { buildApp, type AppDeps } from '../api/index.js';
import { createMetrics } from '../metrics.js';
import type { EventSink } from '../core/index.js';
import { cleanup } from '../test/integration/helpers.js';
import { ensureEventStreams, STREAM_DEFAULTS } from '../engine/ingest/jetstream.js';
import { generateEvents } from '../scripts/generate.js';
import { forceGc, median, round } from './measure.js';

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '3' },
    outstanding: { type: 'string', default: '2' },
  },
});
const BATCH = 1_000;
const WARMUP = 5;
const batches = Number(args.batches);
const rounds = Number(args.rounds);
const outstanding = Number(args.outstanding);

type Inject = (payload: string) => Promise<{ statusCode: number; body: string }>;

let serial = 0;
/** `n` request bodies of BATCH events each, every id fresh. */
function bodies(n: number): string[] {
  const prefix = `h${randomBytes(4).toString('hex')}-${serial++}-`;
  const gen = generateEvents({ count: n * BATCH, campaigns: 20, users: 200_000, variants: 2, canvasShare: 0.2, seed: 1, idPrefix: prefix });
  const out: string[] = [];
  for (let b = 0; b < n; b++) {
    const events = [];
    for (let i = 0; i < BATCH; i++) events.push(gen.next().value);
    out.push(JSON.stringify({ events }));
  }
  return out;
}

async function drive(inject: Inject, payloads: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < payloads.length) {
      const res = await inject(payloads[next++]!);
      if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
      const stored = (JSON.parse(res.body) as { stored: number }).stored;
      if (stored !== BATCH) throw new Error(`stored ${stored} of ${BATCH}: ${res.body.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: outstanding }, worker));
}

/** µs of CPU per event and events/s over `batches` batches, after a warm-up. */
async function phase(inject: Inject): Promise<{ cpuUsPerEvent: number; eventsPerSecond: number }> {
  await drive(inject, bodies(WARMUP));
  const payloads = bodies(batches);
  forceGc();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await drive(inject, payloads);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const events = batches * BATCH;
  return { cpuUsPerEvent: (cpu.user + cpu.system) / events, eventsPerSecond: events / seconds };
}

const ns = `bench_http_${randomBytes(4).toString('hex')}`;
const env: NodeJS.ProcessEnv = { ...process.env, TIERSTREAM_NAMESPACE: ns, TIERSTREAM_ROLE: 'api', TIERSTREAM_INGEST_RATE: '100000000', TIERSTREAM_RATE_LIMIT: '10000000' };
delete env.TIERSTREAM_API_KEYS;
const ts = await createTierstream(configFromEnv(env), { log: pino({ level: 'silent' }) });
const headers = { 'content-type': 'application/json' };
try {
  await ensureEventStreams(await ts.nc.jetstreamManager(), { namespace: ns, ...STREAM_DEFAULTS }, false);
  const okSink: EventSink = { publish: async () => 'stored' };
  const floorApp = buildApp({ metrics: createMetrics({ defaultMetrics: false }), events: okSink } as unknown as AppDeps, { logger: false });
  const floor: Inject = (payload) => floorApp.inject({ method: 'POST', url: '/v1/events', headers, payload });
  const api: Inject = (payload) => ts.app.inject({ method: 'POST', url: '/v1/events', headers, payload });
  const results: Record<'floor' | 'api', { cpuUsPerEvent: number; eventsPerSecond: number }[]> = { floor: [], api: [] };
  for (let r = 0; r < rounds; r++) {
    for (const kind of (r % 2 === 0 ? ['floor', 'api'] : ['api', 'floor']) as ('floor' | 'api')[]) {
      const p = await phase(kind === 'floor' ? floor : api);
      results[kind].push(p);
      console.log(`round ${r + 1} ${kind.padEnd(5)} ${round(p.cpuUsPerEvent, 1)} µs/event, ${round(p.eventsPerSecond)} events/s`);
    }
  }
  const m = (kind: 'floor' | 'api', k: 'cpuUsPerEvent' | 'eventsPerSecond') => median(results[kind].map((p) => p[k]));
  console.log(`median: floor ${round(m('floor', 'cpuUsPerEvent'), 1)} µs/event; api ${round(m('api', 'cpuUsPerEvent'), 1)} µs/event`
    + ` (${round(m('api', 'eventsPerSecond'))} events/s); the sink ${round(m('api', 'cpuUsPerEvent') - m('floor', 'cpuUsPerEvent'), 1)} µs/event`);
  await floorApp.close();
} finally {
  await cleanup(ts, ns);
}
