import type { EventType } from '../core/types.js';

export interface GenerateOptions {
  count: number;
  campaigns: number;
  users: number;
  variants: number;
  /** Share of funnels that belong to canvases (with steps) instead of campaigns. */
  canvasShare: number;
  seed: number;
  /** Epoch ms of the first event (default: 30 days ago). */
  start?: number;
  /** Id prefix, unique per run so runs never collide in the dedup window. */
  idPrefix?: string;
}

export interface WireEvent {
  id: string;
  type: EventType;
  userId: string;
  campaignId?: string;
  canvasId?: string;
  stepId?: string;
  variantId?: string;
  channel: string;
  time: number;
}

/** mulberry32: a small, seeded PRNG so runs are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHANNELS = ['email', 'push', 'sms', 'in_app'];
/** Probability of each further funnel step, given the previous one happened. */
const FUNNEL: [EventType, number][] = [['delivery', 0.95], ['open', 0.45], ['click', 0.3], ['conversion', 0.25]];

/**
 * Share of users whose mail app prefetches every email it receives (Apple Mail Privacy
 * Protection): an assumption, not a measurement. Email-client market share reports since 2022
 * (Litmus's, for one) put Apple Mail at around half of tracked email opens, and MPP fetches each
 * message, tracking pixel included, shortly after delivery, whether or not a person reads it.
 */
export const MACHINE_OPEN_USERS = 0.5;

/** Whether user number `u` reads mail behind a prefetching proxy: a fixed property of the user, not drawn per message. */
const prefetches = (u: number) => ((Math.imul(u + 1, 0x9e3779b1) >>> 0) % 1_000) < MACHINE_OPEN_USERS * 1_000;

/**
 * Realistic interaction events: funnels of send -> delivery -> open -> click -> conversion with
 * falling probabilities, some bounces, unsubscribes and control-group entries, times rising.
 * An email delivered to a user whose mail app prefetches (MACHINE_OPEN_USERS) also gets a
 * `machine_open` right after its delivery, whether or not the person opens it: with the funnel's
 * probabilities, about half of email opens are machine opens.
 */
export function* generateEvents(o: GenerateOptions): Generator<WireEvent> {
  const rand = rng(o.seed);
  const prefix = o.idPrefix ?? `p${o.seed.toString(36)}`;
  let time = o.start ?? Date.now() - 30 * 86_400_000;
  let n = 0;
  while (n < o.count) {
    const canvas = rand() < o.canvasShare;
    const src = Math.floor(rand() * o.campaigns);
    const user = Math.floor(rand() * o.users);
    const base: Omit<WireEvent, 'id' | 'type' | 'time'> = {
      userId: `u${user}`,
      channel: CHANNELS[Math.floor(rand() * CHANNELS.length)]!,
      ...(canvas ? { canvasId: `cv${src}`, stepId: `s${1 + Math.floor(rand() * 4)}` } : { campaignId: `c${src}` }),
      ...(o.variants > 0 && { variantId: `v${Math.floor(rand() * o.variants)}` }),
    };
    const emit = (type: EventType): WireEvent => {
      time += Math.floor(rand() * 50);
      return { id: `${prefix}-${n++}`, type, time, ...base };
    };
    if (rand() < 0.03) {
      yield emit('control');
      continue;
    }
    yield emit('send');
    if (rand() < 0.02) {
      if (n < o.count) yield emit('bounce');
      continue;
    }
    for (const [type, p] of FUNNEL) {
      if (n >= o.count || rand() >= p) break;
      yield emit(type);
      if (type === 'delivery' && base.channel === 'email' && prefetches(user) && n < o.count) yield emit('machine_open');
    }
    if (n < o.count && rand() < 0.01) yield emit('unsubscribe');
  }
}
