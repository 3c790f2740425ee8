/**
 * Sample producer: publishes realistic interaction events to JetStream.
 *
 *   npm run produce -- --events N [--campaigns C] [--users U] [--variants V] [--rate R]
 *                      [--canvas-share 0.2] [--window W] [--seed S]
 *
 * Each message goes through a user's funnel: a send, then with falling probability a delivery,
 * open, click and conversion (some bounces, unsubscribes and control-group entries), about a
 * fifth of them for canvases with steps; emails of users whose mail app prefetches (half of them,
 * an assumption: see generate.ts) also get a machine_open after delivery. Nats-Msg-Id is the event id. --rate caps events/s.
 */
import { parseArgs } from 'node:util';
import { connect, headers as natsHeaders } from 'nats';
import { SingleBar, Presets } from 'cli-progress';
import { configFromEnv } from '../config.js';
import { ensureStreams } from '../engine/ingest/jetstream.js';
import { natsNames } from '../storage/nats/index.js';
import { ENGINE_DEFAULTS } from '../engine/ingest/engine.js';
import { generateEvents } from './generate.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000' },
    campaigns: { type: 'string', default: '10' },
    users: { type: 'string', default: '10000' },
    variants: { type: 'string', default: '2' },
    rate: { type: 'string' },
    'canvas-share': { type: 'string', default: '0.2' },
    window: { type: 'string', default: '4096' },
    seed: { type: 'string', default: String(Date.now()) },
    quiet: { type: 'boolean', default: false },
  },
});

const num = (name: keyof typeof values, min: number) => {
  const v = Number(values[name]);
  if (!Number.isFinite(v) || v < min) {
    console.error(`produce: --${name} must be a number >= ${min}`);
    process.exit(2);
  }
  return v;
};

const config = configFromEnv();
const total = num('events', 1);
const rate = values.rate === undefined ? Infinity : num('rate', 1);
const windowSize = num('window', 1);
const names = natsNames(config.namespace);
const nc = await connect({ servers: config.natsServers, maxReconnectAttempts: -1 });
const js = nc.jetstream();
// The engine creates the stream; a producer started first creates it the same way.
await ensureStreams(await nc.jetstreamManager(), {
  namespace: config.namespace,
  dedupWindowMs: ENGINE_DEFAULTS.dedupWindowMs,
  maxAgeMs: ENGINE_DEFAULTS.streamMaxAgeMs,
  ackWaitMs: ENGINE_DEFAULTS.ackWaitMs,
  maxAckPending: ENGINE_DEFAULTS.maxInflight,
});

const bar = values.quiet ? undefined : new SingleBar({ format: 'produce [{bar}] {percentage}% {value}/{total} events {rate} ev/s', hideCursor: true }, Presets.shades_classic);
bar?.start(total, 0, { rate: 0 });
const started = performance.now();
let sent = 0;
let failed = 0;
const inflight = new Set<Promise<unknown>>();
for (const event of generateEvents({
  count: total,
  campaigns: num('campaigns', 1),
  users: num('users', 1),
  variants: num('variants', 0),
  canvasShare: num('canvas-share', 0),
  seed: Number(values.seed),
})) {
  const h = natsHeaders();
  h.set('Nats-Msg-Id', event.id);
  const p: Promise<void> = js.publish(`${names.subjectPrefix}${event.type}`, JSON.stringify(event), { headers: h }).then(
    () => void inflight.delete(p),
    (err: unknown) => {
      failed++;
      inflight.delete(p);
      if (failed <= 5) console.error(`produce: publish failed: ${(err as Error).message}`);
    },
  );
  inflight.add(p);
  sent++;
  if (inflight.size >= windowSize) await Promise.race(inflight);
  if (sent % 1000 === 0) {
    const elapsed = (performance.now() - started) / 1000;
    bar?.update(sent, { rate: Math.round(sent / elapsed) });
    if (rate !== Infinity) {
      const ahead = sent / rate - elapsed;
      if (ahead > 0) await new Promise((r) => setTimeout(r, ahead * 1000));
    }
  }
}
await Promise.all(inflight);
const seconds = (performance.now() - started) / 1000;
bar?.update(sent, { rate: Math.round(sent / seconds) });
bar?.stop();
console.log(`produced ${sent - failed} events in ${seconds.toFixed(2)} s: ${Math.round((sent - failed) / seconds)} events/s${failed ? `, ${failed} failed` : ''}`);
await nc.close();
process.exit(failed ? 1 : 0);
