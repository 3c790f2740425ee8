/**
 * The backlog an engine drains: `backlog` realistic events (scripts/generate.ts: funnels over
 * `backlogCampaigns` campaigns and canvases and `backlogUsers` users, never the lookups' own
 * sources L1, LC1 and L3)
 * published into the namespace's stream while no engine runs, each with its Nats-Msg-Id, as
 * fast as JetStream acknowledges them. And the drain's progress, read from the engine's
 * durable consumer (JetStream consumer info) over time.
 */
import { createInbox, headers as natsHeaders } from 'nats';
import { natsNames } from '../../storage/nats/index.js';
import { generateEvents } from '../../scripts/generate.js';
import { round } from '../measure.js';
import type { Ctx } from './context.js';

/**
 * Messages published and not yet acknowledged, at most. Each goes out by core publish with a
 * reply subject under one inbox subscription, where JetStream sends its ack: the same acked
 * publish as js.publish, without a request object and a timer per message (js.publish with a
 * window got about 24k events/s here, this about 150k).
 */
const PUBLISH_WINDOW = 4_096;

export interface BacklogResult {
  events: number;
  /** Epoch ms of the first event (backlogEvents' `start`). */
  start: number;
  seconds: number;
  eventsPerSecond: number;
  /** Acks that carried an error (the stream refused the message), and duplicates it dropped. */
  ackErrors: number;
  duplicates: number;
  /** Messages in the stream afterwards, and the consumer's num_pending (none consumed yet). */
  streamMessages: number;
  numPending: number;
}

/**
 * The backlog's events (generateEvents: funnels over `backlogCampaigns` campaigns and canvases
 * and `backlogUsers` users, times from `start` on): the same events again for the same `start`,
 * so the lookups benchmark can tell which of its users the backlog touches.
 */
export function backlogEvents(ctx: Ctx, start: number): ReturnType<typeof generateEvents> {
  const { p } = ctx;
  // Event ids allow no '_', the namespace does: the prefix keeps ids unique per bench run.
  const idPrefix = `${ctx.ns.replaceAll('_', '-')}-b`;
  return generateEvents({
    count: p.backlog, campaigns: p.backlogCampaigns, users: p.backlogUsers, variants: 2, canvasShare: 0.2, seed: p.seed, idPrefix, start,
  });
}

/** Publishes the backlog; the stream and the engine's consumer exist (the engine made them). */
export async function publishBacklog(ctx: Ctx): Promise<BacklogResult> {
  const { nc } = ctx;
  const names = natsNames(ctx.ns);
  const inbox = createInbox();
  const decoder = new TextDecoder();
  let sent = 0, acked = 0, ackErrors = 0, duplicates = 0;
  let wake: (() => void) | undefined;
  const sub = nc.subscribe(`${inbox}.*`, {
    callback: (_err, m) => {
      const ack = JSON.parse(decoder.decode(m.data)) as { error?: unknown; duplicate?: boolean };
      if (ack.error) ackErrors++;
      if (ack.duplicate) duplicates++;
      acked++;
      if (wake && sent - acked <= PUBLISH_WINDOW / 2) {
        const w = wake;
        wake = undefined;
        w();
      }
    },
  });
  const t0 = performance.now();
  const start = Date.now() - 30 * 86_400_000;
  for (const e of backlogEvents(ctx, start)) {
    const h = natsHeaders();
    h.set('Nats-Msg-Id', e.id);
    nc.publish(`${names.subjectPrefix}${e.type}`, JSON.stringify(e), { headers: h, reply: `${inbox}.${sent}` });
    sent++;
    if (sent - acked >= PUBLISH_WINDOW) {
      await new Promise<void>((resolve) => (wake = resolve));
      ctx.signal.throwIfAborted();
    }
  }
  const stallAt = performance.now();
  while (acked < sent) {
    ctx.signal.throwIfAborted();
    if (performance.now() - stallAt > 30_000) throw new Error(`backlog: ${sent - acked} of ${sent} publishes not acknowledged after 30 s`);
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, 20);
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  sub.unsubscribe();
  const stream = await ctx.jsm.streams.info(names.stream);
  const consumer = await ctx.jsm.consumers.info(names.stream, names.consumer);
  if (ackErrors) throw new Error(`backlog: ${ackErrors} publishes were refused by the stream`);
  return {
    events: sent, start, seconds: round(seconds, 2), eventsPerSecond: Math.round(sent / seconds), ackErrors, duplicates,
    streamMessages: stream.state.messages, numPending: consumer.num_pending,
  };
}

/** One reading of the engine's consumer. */
export interface ConsumerSample {
  /** Seconds since the phase's window started. */
  t: number;
  numPending: number;
  numAckPending: number;
}

/** The consumer's state now. */
export async function consumerSample(ctx: Ctx, t0: number): Promise<ConsumerSample> {
  const names = natsNames(ctx.ns);
  const info = await ctx.jsm.consumers.info(names.stream, names.consumer);
  return { t: round((performance.now() - t0) / 1000, 3), numPending: info.num_pending, numAckPending: info.num_ack_pending };
}

/** Reads the consumer every `everyMs` until stopped; `stop` takes a last reading at once and returns all. */
export function sampleConsumer(ctx: Ctx, t0: number, everyMs: number): { stop(): Promise<ConsumerSample[]> } {
  const samples: ConsumerSample[] = [];
  let running = true;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      samples.push(await consumerSample(ctx, t0));
      if (running) await new Promise<void>((resolve) => ((wake = resolve), setTimeout(resolve, everyMs)));
    }
  })();
  return {
    async stop() {
      running = false;
      const last = consumerSample(ctx, t0);
      wake?.();
      await loop;
      samples.push(await last);
      return samples;
    },
  };
}

export interface DrainProgress {
  samples: ConsumerSample[];
  /** Events acknowledged per second over the window: the fall of num_pending + num_ack_pending. */
  eventsPerSecond: number;
  /** Events delivered per second: the fall of num_pending alone. */
  deliveredPerSecond: number;
  events: number;
  pendingAtStart: number;
  pendingAtEnd: number;
  /** The backlog ran out before the window ended (num_pending reached 0): the phase did not measure a drain throughout. */
  ranOut: boolean;
}

export function drainProgress(samples: ConsumerSample[]): DrainProgress {
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  const dt = Math.max(1e-3, last.t - first.t);
  const events = first.numPending + first.numAckPending - (last.numPending + last.numAckPending);
  return {
    samples,
    eventsPerSecond: Math.round(events / dt),
    deliveredPerSecond: Math.round((first.numPending - last.numPending) / dt),
    events,
    pendingAtStart: first.numPending,
    pendingAtEnd: last.numPending,
    ranOut: last.numPending === 0,
  };
}
