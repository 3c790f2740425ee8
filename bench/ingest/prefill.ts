/**
 * The events every phase consumes: generated lazily (scripts/generate.ts is a generator, so a
 * 5M backlog never sits in this process's memory) and published into the namespace's stream
 * by core publish; and the same events decoded, for the stores' minimum (a2).
 */
import { decodeEvent, type InteractionEvent } from '../../core/index.js';
import { natsNames } from '../../storage/nats/index.js';
import { generateEvents, type WireEvent } from '../../scripts/generate.js';
import { round } from '../measure.js';
import { corePublish, until } from '../namespace.js';
import type { Ctx } from './context.js';

export interface FillResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

/**
 * The `count` events of this run with id prefix `<ns>-<tag>` (ids allow no '_', the namespace
 * does; a tag of its own per fill keeps the ids of every fill apart in the dedup window).
 */
function events(ctx: Ctx, count: number, tag: string): Generator<WireEvent> {
  const { p } = ctx;
  const idPrefix = `${ctx.ns.replaceAll('_', '-')}-${tag}`;
  return generateEvents({ count, campaigns: p.campaigns, users: p.users, variants: p.variants, canvasShare: 0.2, seed: p.seed, idPrefix });
}

/**
 * Empties the stream, then publishes `count` events to `<ns>.events.<type>` with a
 * `Nats-Msg-Id` header, by core publish (corePublish, a flush every PREFILL_FLUSH_EVERY; JetStream
 * publish-with-ack is too slow for millions here), and waits until the stream holds exactly
 * `count` messages.
 */
export async function fillStream(ctx: Ctx, count: number, tag: string): Promise<FillResult> {
  const { nc, jsm } = ctx;
  const names = natsNames(ctx.ns);
  await jsm.streams.purge(names.stream);
  const t0 = performance.now();
  await corePublish(nc, names.subjectPrefix, events(ctx, count, tag), ctx.signal);
  await until(ctx, 'stream pre-fill', 100, async () => {
    const held = (await jsm.streams.info(names.stream)).state.messages;
    if (held > count) throw new Error(`stream holds ${held} messages, more than the ${count} published`);
    return { done: held === count, progress: held };
  });
  const seconds = (performance.now() - t0) / 1000;
  return { events: count, seconds: round(seconds, 3), eventsPerSecond: Math.round(count / seconds) };
}

/** The events of fillStream(ctx, count, tag), decoded as the engine decodes them (the same JSON text). */
export function decodedEvents(ctx: Ctx, count: number, tag: string): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  for (const e of events(ctx, count, tag)) out.push(decodeEvent(Buffer.from(JSON.stringify(e), 'utf8')));
  return out;
}
