/**
 * Sample producer: publishes realistic interaction events to JetStream through the producer
 * library (producer/).
 *
 *   npm run produce -- --events N [--campaigns C] [--users U] [--variants V] [--rate R]
 *                      [--canvas-share 0.2] [--window W] [--seed S] [--quiet]
 *
 * Each message goes through a user's funnel: a send, then with falling probability a delivery,
 * open, click and conversion (some bounces, unsubscribes and control-group entries), about a
 * fifth of them for canvases with steps; emails of users whose mail app prefetches (half of them,
 * an assumption: see generate.ts) also get a machine_open after delivery. Nats-Msg-Id is the event id. --rate caps events/s.
 */
import { parseArgs } from 'node:util';
import { SingleBar, Presets } from 'cli-progress';
import { configFromEnv } from '../config.js';
import { createProducer } from '../producer/index.js';
import { generateEvents } from './generate.js';

const HELP = `Usage: npm run produce -- [options]

Publishes generated interaction events to the namespace's events stream (TIERSTREAM_NAMESPACE,
NATS_URL) through the producer library, and creates the stream when missing.

Options:
  --events N         events to publish (default 10000)
  --campaigns C      campaigns and canvases to spread them over (default 10)
  --users U          distinct users (default 10000)
  --variants V       variants per source, 0 for none (default 2)
  --canvas-share F   share of canvas events, 0..1 (default 0.2)
  --rate R           at most R events per second (default: as fast as JetStream stores them)
  --window W         publishes awaiting their acknowledgement at once (default 4096)
  --seed S           random seed (default: the time)
  --quiet            no progress bar
  -h, --help         this help

Environment: NATS_URL (default nats://127.0.0.1:4222), TIERSTREAM_NAMESPACE (default tierstream).
Exit status: 0 when every event was stored, 1 when some were not (the first errors are printed,
e.g. stream_full when the events stream is at TIERSTREAM_EVENTS_MAX_BYTES), 2 for a bad option.
`;

const usage = (message: string): never => {
  console.error(`produce: ${message}\nTry 'npm run produce -- --help'.`);
  process.exit(2);
};

let parsed;
try {
  parsed = parseArgs({
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
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (err) {
  // parseArgs's own messages (an unknown option, a missing value), without its stack trace.
  usage((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
}
const { values } = parsed!;
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const num = (name: keyof typeof values, min: number) => {
  const v = Number(values[name]);
  if (!Number.isFinite(v) || v < min) {
    console.error(`produce: --${name} must be a number >= ${min}`);
    process.exit(2);
  }
  return v;
};

const fail = (message: string): never => {
  console.error(`produce: ${message}`);
  process.exit(1);
};

let config;
try {
  config = configFromEnv();
} catch (err) {
  fail((err as Error).message); // a ConfigError names the variable
}
const total = num('events', 1);
const rate = values.rate === undefined ? Infinity : num('rate', 1);
const windowSize = num('window', 1);
const producer = await createProducer({ servers: config!.natsServers, namespace: config!.namespace, window: windowSize })
  .catch((err: Error) => fail(`cannot publish to NATS at ${config!.natsServers.join(',')} (NATS_URL): ${err.message}`));

const bar = values.quiet ? undefined : new SingleBar({ format: 'produce [{bar}] {percentage}% {value}/{total} events {rate} ev/s', hideCursor: true }, Presets.shades_classic);
bar?.start(total, 0, { rate: 0 });
const started = performance.now();
let sent = 0;
let failed = 0;
/** Chunks of events handed to the library, two at a time: the window stays full across chunks. */
const CHUNK = Math.max(1_000, windowSize);
const pending: Promise<unknown>[] = [];
let chunk: object[] = [];
const flushChunk = async () => {
  const events = chunk;
  chunk = [];
  pending.push(producer.publish(events).then(
    () => undefined,
    (err: unknown) => {
      failed += events.length;
      if (failed <= 5 * events.length) console.error(`produce: ${(err as Error).message}`);
    },
  ));
  if (pending.length >= 2) await pending.shift();
};
for (const event of generateEvents({
  count: total,
  campaigns: num('campaigns', 1),
  users: num('users', 1),
  variants: num('variants', 0),
  canvasShare: num('canvas-share', 0),
  seed: Number(values.seed),
})) {
  chunk.push(event);
  sent++;
  if (chunk.length >= CHUNK) await flushChunk();
  if (sent % 1000 === 0) {
    const elapsed = (performance.now() - started) / 1000;
    bar?.update(sent, { rate: Math.round(sent / elapsed) });
    if (rate !== Infinity) {
      const ahead = sent / rate - elapsed;
      if (ahead > 0) {
        if (chunk.length > 0) await flushChunk();
        await new Promise((r) => setTimeout(r, ahead * 1000));
      }
    }
  }
}
if (chunk.length > 0) await flushChunk();
await Promise.all(pending);
const seconds = (performance.now() - started) / 1000;
bar?.update(sent, { rate: Math.round(sent / seconds) });
bar?.stop();
console.log(`produced ${sent - failed} events in ${seconds.toFixed(2)} s: ${Math.round((sent - failed) / seconds)} events/s${failed ? `, ${failed} failed` : ''}`);
await producer.close();
process.exit(failed ? 1 : 0);
