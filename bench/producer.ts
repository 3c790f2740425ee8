/**
 * The producer library's throughput against a bare nats.js JetStream publisher, in one run.
 *
 *   npm run bench -- producer [--events 100000] [--rounds 3] [--window 1024]
 *
 * Question: how many events per second does `createProducer(...).publish` get acknowledged by
 * JetStream, and what share of a bare publisher with the same window is that (target: at least
 * 0.8 of it, and 100k events/s on this machine)?
 *
 * Method: one events stream in a throwaway namespace `bench_prod_<hex>`, created by the library
 * with the engine's settings (deleted at the end, even on Ctrl-C). Both publishers start from the
 * same generated event objects (scripts/generate.ts, not serialised beforehand) and each round
 * gives every event a fresh id, so nothing is a duplicate:
 * - **bare**: `window` loops, each `await js.publish(subject, JSON-encoded event, {msgID})` in
 *   turn: JSON.stringify and a TextEncoder per event, no validation, `window` publishes always
 *   in flight (a real window, no per-event bookkeeping beyond nats.js's own);
 * - **core**: what the library does underneath with nothing else: core publishes with a reply
 *   subject on one wildcard inbox subscription, one headers object refilled per message,
 *   JSON.stringify per event, the next event sent as each acknowledgement arrives (no
 *   validation, timeouts or retries): the stricter ceiling;
 * - **library**: `producer.publish(chunk)` with chunks of max(1000, window) events and two chunks
 *   outstanding, as scripts/produce.ts does; the library validates each event with the engine's
 *   rules and keeps its own window of `window` publishes.
 * (`bare` is what a producer writes with nats.js as documented; `core` is what it could write
 * knowing nats.js's costs.) Each phase counts events acknowledged by JetStream per second of wall time, and CPU seconds
 * of this process (the producer: user + system, every thread) per event, in µs; nats-server's
 * CPU beside. Rounds alternate which publisher goes first; the stream is purged between
 * phases. Medians over rounds, and the ratios library/bare and library/core of the medians.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { connect, createInbox, headers, type JetStreamClient, type NatsConnection } from 'nats';
import { configFromEnv } from '../config.js';
import { deleteStreams } from '../engine/ingest/index.js';
import { createProducer } from '../producer/index.js';
import { natsNames } from '../storage/nats/names.js';
import { generateEvents, type WireEvent } from '../scripts/generate.js';
import { cpuDelta, forceGc, machineBusy, median, round, serviceCpu, table } from './measure.js';
import { codeVersion, writeResult } from './namespace.js';
import type { Benchmark } from './types.js';

type Kind = 'bare' | 'core' | 'library';
const KINDS: readonly Kind[] = ['bare', 'core', 'library'];

interface Phase {
  kind: Kind;
  round: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** CPU of this process per event, µs. */
  cpuUsPerEvent: number;
  natsCpuSeconds: number | undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `window` loops of awaited js.publish: the ceiling a producer of objects reaches with nats.js alone. */
async function bare(js: JetStreamClient, prefix: string, events: readonly WireEvent[], window: number): Promise<void> {
  let next = 0;
  const loop = async () => {
    while (next < events.length) {
      const e = events[next++]!;
      await js.publish(`${prefix}${e.type}`, encoder.encode(JSON.stringify(e)), { msgID: e.id });
    }
  };
  await Promise.all(Array.from({ length: window }, loop));
}

/**
 * What the library does underneath, without validation, retries or timeouts: core publishes
 * with a reply subject on one wildcard inbox subscription, one headers object refilled per
 * message, the next event sent as each acknowledgement arrives.
 */
async function core(nc: NatsConnection, prefix: string, events: readonly WireEvent[], window: number): Promise<void> {
  const inbox = `${createInbox()}.`;
  const h = headers();
  let next = 0;
  let acked = 0;
  await new Promise<void>((resolve, reject) => {
    const send = () => {
      const e = events[next]!;
      h.set('Nats-Msg-Id', e.id);
      nc.publish(`${prefix}${e.type}`, encoder.encode(JSON.stringify(e)), { reply: `${inbox}${next++}`, headers: h });
    };
    const sub = nc.subscribe(`${inbox}*`, {
      callback: (err, msg) => {
        const failure = err ?? (msg.headers?.hasError ? new Error(`status ${msg.headers.code}`) : JSON.parse(decoder.decode(msg.data)).error);
        if (failure) {
          sub.unsubscribe();
          return reject(new Error(`core publisher: ${JSON.stringify(failure)}`));
        }
        if (++acked === events.length) {
          sub.unsubscribe();
          resolve();
        } else if (next < events.length) send();
      },
    });
    while (next < Math.min(window, events.length)) send();
  });
}

async function library(producer: Awaited<ReturnType<typeof createProducer>>, events: readonly WireEvent[], window: number): Promise<void> {
  const chunk = Math.max(1_000, window);
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < events.length; i += chunk) {
    pending.push(producer.publish(events.slice(i, i + chunk)));
    if (pending.length >= 2) await pending.shift();
  }
  await Promise.all(pending);
}

export const producerBench: Benchmark = {
  name: 'producer',
  question: 'Events/s the producer library gets acknowledged by JetStream, against bare nats.js publishers with the same window (target: >= 0.8 of js.publish, >= 100k/s)?',
  options: {
    events: { default: 100_000, min: 1_000, description: 'events per phase' },
    rounds: { default: 3, min: 1, description: 'rounds (each: bare, core and library, order rotating)' },
    window: { default: 1024, min: 1, description: 'publishes in flight at once, both publishers' },
  },
  async run(params, signal) {
    const startedAt = new Date();
    const load = os.loadavg();
    const busy = await machineBusy();
    const config = configFromEnv();
    const ns = `bench_prod_${randomBytes(4).toString('hex')}`;
    const names = natsNames(ns);
    const nc = await connect({ servers: config.natsServers });
    const jsm = await nc.jetstreamManager();
    const producer = await createProducer({ connection: nc, namespace: ns, window: params.window! });
    const js = nc.jetstream();
    const template = [...generateEvents({ count: params.events!, campaigns: 10, users: 20_000, variants: 2, canvasShare: 0.2, seed: 42, start: Date.now() - 86_400_000 })];
    const phases: Phase[] = [];
    try {
      console.log(`namespace ${ns}, machine busy ${busy === undefined ? '?' : `${round(busy * 100)}%`} before the run, load ${load.map((x) => round(x, 2)).join(' ')}\n`);
      for (let r = 0; r < params.rounds!; r++) {
        // Each kind first in turn: bare core library, core library bare, library bare core, ...
        const order = KINDS.map((_, i) => KINDS[(i + r) % KINDS.length]!);
        for (const kind of order) {
          signal.throwIfAborted();
          const events = template.map((e) => ({ ...e, id: `${kind}-${r}-${e.id}` }));
          await jsm.streams.purge(names.stream);
          forceGc();
          const nats0 = serviceCpu();
          const cpu0 = process.cpuUsage();
          const t0 = performance.now();
          if (kind === 'bare') await bare(js, names.subjectPrefix, events, params.window!);
          else if (kind === 'core') await core(nc, names.subjectPrefix, events, params.window!);
          else await library(producer, events, params.window!);
          const seconds = (performance.now() - t0) / 1000;
          const cpu = process.cpuUsage(cpu0);
          const nats = cpuDelta(nats0, serviceCpu()).nats;
          const stored = (await jsm.streams.info(names.stream)).state.messages;
          if (stored !== events.length) throw new Error(`${kind}: the stream holds ${stored} messages, expected ${events.length}`);
          const phase: Phase = {
            kind, round: r, events: events.length, seconds: round(seconds, 3),
            eventsPerSecond: Math.round(events.length / seconds),
            cpuUsPerEvent: round((cpu.user + cpu.system) / events.length, 1),
            natsCpuSeconds: nats,
          };
          phases.push(phase);
          console.log(`round ${r} ${kind.padEnd(7)} ${phase.eventsPerSecond} events/s, ${phase.cpuUsPerEvent} µs CPU/event, nats-server ${nats ?? '?'} s CPU`);
        }
      }
    } finally {
      await producer.close();
      await deleteStreams(jsm, ns).catch((err: unknown) => console.error(`bench: cleanup of ${ns} failed: ${(err as Error).message}`));
      await nc.drain().catch(() => undefined);
      console.log(`cleaned up namespace ${ns}`);
    }
    const summary = (kind: Kind) => {
      const of = phases.filter((p) => p.kind === kind);
      return {
        eventsPerSecond: Math.round(median(of.map((p) => p.eventsPerSecond))),
        cpuUsPerEvent: round(median(of.map((p) => p.cpuUsPerEvent)), 1),
      };
    };
    const b = summary('bare');
    const c = summary('core');
    const l = summary('library');
    const ratio = round(l.eventsPerSecond / b.eventsPerSecond, 3);
    const ratioCore = round(l.eventsPerSecond / c.eventsPerSecond, 3);
    console.log(`\n${table(['publisher', 'events/s (median)', 'CPU µs/event (median)'], [
      ['bare: js.publish', b.eventsPerSecond, b.cpuUsPerEvent],
      ['core: publish + one inbox', c.eventsPerSecond, c.cpuUsPerEvent],
      ['library', l.eventsPerSecond, l.cpuUsPerEvent],
    ])}\n\nratio library/bare: ${ratio}; library/core: ${ratioCore}`);
    const file = writeResult('producer', startedAt, {
      question: producerBench.question, params, startedAt: startedAt.toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverage: load.map((x) => round(x, 2)), busyBefore: busy, node: process.version, nats: nc.info?.version, code: codeVersion() },
      bare: b, core: c, library: l, ratio, ratioCore, phases,
    });
    console.log(`results: ${file}`);
  },
};
