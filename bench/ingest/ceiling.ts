/**
 * (a0) and (a1): a bare durable pull consumer on the pre-filled stream that only decodes each
 * payload the way the engine does and acks, writing nothing. (a0) acks every message (explicit
 * ack, the ceiling the earlier figures used); (a1) acks cumulatively (AckPolicy.All) every
 * `ackEvery` messages and the last one.
 */
import { AckPolicy, DeliverPolicy, type JsMsg } from 'nats';
import { ENGINE_DEFAULTS } from '../../engine/ingest/index.js';
import { natsNames } from '../../storage/nats/index.js';
import { RssSampler, MiB, forceGc, round } from '../measure.js';
import { STALL_MS, until } from '../namespace.js';
import { POLL_MS, type Ctx } from './context.js';
import { cpuWindow, readCpu, type CpuWindow } from './cpu.js';

export type CeilingAck = 'explicit' | 'cumulative';

export interface CeilingResult {
  phase: string;
  ack: CeilingAck;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** From consume() to the first message, ms (not in `seconds`). */
  firstMessageMs: number;
  /** Acks sent. */
  acks: number;
  peakRssMiB: number;
  cpu: CpuWindow;
}

const nanos = (ms: number) => ms * 1_000_000;

/**
 * Consumes the whole stream with a fresh consumer. The clock runs from the first message
 * until the last ack is known to be at the server: for explicit acks when nc.flush() returns
 * (the server's count is checked afterwards, untimed, as before); for cumulative acks when
 * the last ack's confirmation (ackAck) arrives and consumer info shows nothing pending.
 */
export async function runCeiling(ctx: Ctx, ack: CeilingAck): Promise<CeilingResult> {
  const { p, js, jsm, nc } = ctx;
  const events = p.events;
  const stream = natsNames(ctx.ns).stream;
  const name = `${ctx.ns}_ceiling`;
  await jsm.consumers.delete(stream, name).catch(() => false);
  await jsm.consumers.add(stream, {
    durable_name: name,
    ack_policy: ack === 'explicit' ? AckPolicy.Explicit : AckPolicy.All,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ENGINE_DEFAULTS.ackWaitMs),
    max_ack_pending: ctx.maxAckPending,
  });
  const consumer = await js.consumers.get(stream, name);
  forceGc();
  const rss = new RssSampler();
  const cpu0 = readCpu(ctx.services);
  const tCall = performance.now();
  let first = 0;
  let n = 0;
  let acks = 0;
  let last: JsMsg | undefined;
  let finish!: (err?: Error) => void;
  const finished = new Promise<void>((res, rej) => (finish = (err) => (err ? rej(err) : res())));
  // A callback, not `for await`: nats.js flushes its outbound buffer in a microtask, so an
  // iterator that acks between awaits sends one socket write per ack (about 3x slower here);
  // a callback sees every message of a socket read in one turn, and their acks leave together.
  const messages = await consumer.consume({
    max_messages: ctx.pull,
    callback: (m) => {
      if (n === 0) first = performance.now();
      // The same decoding the engine does before validation, so the ceiling pays for it too.
      JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8'));
      n++;
      if (n === events) {
        last = m; // acked below, with a confirmation
        finish();
      } else if (ack === 'explicit' || n % p.ackEvery === 0) {
        m.ack();
        acks++;
      }
    },
  });
  let lastN = 0;
  let lastChange = performance.now();
  const watchdog = setInterval(() => {
    if (n !== lastN) (lastN = n), (lastChange = performance.now());
    if (ctx.signal.aborted) finish(new Error('interrupted'));
    else if (performance.now() - lastChange > STALL_MS) finish(new Error(`ceiling consumer stalled at ${n} of ${events} messages`));
  }, 1_000);
  try {
    await finished;
    acks++;
    if (ack === 'explicit') {
      last!.ack();
      await nc.flush();
    } else {
      if (!(await last!.ackAck())) throw new Error('the last cumulative ack was not confirmed');
      await settled(ctx, stream, name);
    }
  } finally {
    clearInterval(watchdog);
    messages.stop();
  }
  const t1 = performance.now();
  const cpu1 = readCpu(ctx.services);
  const peak = rss.stop();
  // Explicit acks are fire-and-forget: check the server took every one, outside the timed part.
  if (ack === 'explicit') await settled(ctx, stream, name);
  await jsm.consumers.delete(stream, name);
  const seconds = (t1 - first) / 1000;
  return {
    phase: ack === 'explicit' ? '(a0) bare consumer, explicit ack' : '(a1) bare consumer, cumulative ack',
    ack,
    events: n,
    seconds: round(seconds, 3),
    eventsPerSecond: Math.round(n / seconds),
    firstMessageMs: round(first - tCall, 1),
    acks,
    peakRssMiB: round(peak / MiB, 1),
    cpu: cpuWindow(cpu0, cpu1, n),
  };
}

/** Waits until the consumer has nothing pending and nothing unacknowledged. */
async function settled(ctx: Ctx, stream: string, name: string): Promise<void> {
  await until(ctx, `consumer ${name} acks`, POLL_MS, async () => {
    const info = await ctx.jsm.consumers.info(stream, name);
    return { done: info.num_pending === 0 && info.num_ack_pending === 0, progress: info.ack_floor.stream_seq };
  });
}
