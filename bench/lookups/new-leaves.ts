/**
 * The lookups benchmark's second filter (issue 26): a send-time check built of the hot leaves
 * that came after the first benchmark (docs/filters.md): an alias leaf on L1's clicks, an
 * any-message `engaged` leaf (clicks and both kinds of opens, over every message), an
 * any-message leaf with a channel (no push in the last day: a frequency cap), the user-state
 * leaves (hard bounce on email, spam, invalid phone) and a canvas variation leaf, joined to L1's
 * send by `and`/`not`. Here: that filter, the data its leaves read (generated beside L1's in
 * hot-data.ts, from a PRNG stream of its own so L1's sends and clicks stay those of the first
 * filter), every answer known in advance, and the Redis bytes per user of the new indexes (the
 * any-message pseudo-source, and the alias indexes measured against the same data without
 * aliases in a scratch namespace).
 */
import type { Cluster, Redis } from 'ioredis';
import { ANY_MESSAGE, foldEvents, type IndexSource, type InteractionEvent, type SourceRef } from '../../core/index.js';
import { RedisHotIndex, sourceKeys } from '../../storage/index.js';
import { rng } from '../../scripts/generate.js';
import { masters } from '../namespace.js';
import { round } from '../measure.js';
import type { Ctx } from './context.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** A canvas of push messages with two variations (Braze's canvas_variation_id is the variant). */
export const CANVAS: SourceRef = { kind: 'canvas', id: 'LC1' };
/** An SMS campaign: its hard bounces are invalid phone numbers. */
export const SMS_CAMPAIGN: SourceRef = { kind: 'campaign', id: 'L3' };

/** The `within` of the engaged leaf and of the push frequency cap, and their lengths in ms. */
const ENGAGED_WITHIN = 'P7D';
const ENGAGED_MS = 7 * DAY_MS;
const PUSH_CAP_WITHIN = 'P1D';
const PUSH_CAP_MS = DAY_MS;

/**
 * "Sent L1, did not click L1's hero link, not engaged with any message in the last 7 days, no
 * push in the last day, not hard-bounced on email, not marked as spam, no invalid phone, not in
 * variation V2 of canvas LC1". 8 leaves of the grammar over 3 sources (L1, the any-message
 * pseudo-source, LC1): 3 read.lua calls in one round trip, 10 compiled leaves (the existing
 * filter: 1 call, 2 leaves).
 */
export const NEW_LEAVES_FILTER = {
  and: [
    { campaign: 'L1', event: 'send' },
    { not: { campaign: 'L1', event: 'click', alias: 'hero' } },
    { not: { any: 'message', event: 'engaged', opens: 'any', within: ENGAGED_WITHIN } },
    { not: { any: 'message', event: 'send', channel: 'push', within: PUSH_CAP_WITHIN } },
    {
      not: {
        or: [
          { any: 'message', event: 'bounce', channel: 'email' },
          { any: 'message', event: 'spam' },
          { any: 'message', event: 'bounce', channel: 'sms' },
        ],
      },
    },
    { not: { canvas: 'LC1', variant: 'V2', event: 'send' } },
  ],
};

/** Shares of the generated data (of all users unless said). */
const SHARE = {
  /** A clicked L1 click's alias: hero, footer, or none. */
  hero: 0.5, footer: 0.25,
  /** L1 hard bounces (email), among users without a click. */
  hardBounce: 0.03,
  /** L1 soft bounces before the delivery. */
  softBounce: 0.04,
  /** L1 opens of the delivered, and the machine opens among them. */
  open: 0.4, machineOpen: 1 / 3,
  /** L1 spam complaints of the delivered. */
  spam: 0.01,
  /** Users in canvas LC1 (half in each variation), and push opens among them. */
  canvas: 0.5, canvasOpen: 0.3,
  /** Users sent L3 (SMS), and its hard bounces (invalid phone) among them. */
  sms: 0.2, smsBounce: 0.1,
};

/**
 * The new leaves' data, user by user, and what the new filter answers for each. Events only
 * ever add to a user's latest times, and every leaf but L1's send is under a `not`: an event
 * can only take a user out of the answer. So a user out for a reason of its own data stays out.
 */
export class NewLeavesData {
  /** 1: out whatever the time (clicked hero, bounced or complained, or in variation V2). */
  readonly out: Uint8Array;
  /** Latest click, open or machine open over every source (NaN: none). */
  readonly engaged: Float64Array;
  /** Latest push send over every source (NaN: none). */
  readonly push: Float64Array;
  /** 1: the backlog may have added an event that takes the user out (answer either way). */
  readonly backlog: Uint8Array;
  /** Clicks with a link alias, for bytes per aliased click. */
  aliasedClicks = 0;
  private readonly rand: () => number;

  constructor(users: number, seed: number, private readonly now: number, private readonly idPrefix: string) {
    this.out = new Uint8Array(users);
    this.engaged = new Float64Array(users).fill(NaN);
    this.push = new Float64Array(users).fill(NaN);
    this.backlog = new Uint8Array(users);
    this.rand = rng(seed + 11);
  }

  /**
   * User u's events beyond L1's send and click, appended to `out`; gives the click its alias.
   * `send` is L1's send time, `click` L1's click (already in `out`) or undefined.
   */
  addUser(u: number, send: number, click: InteractionEvent | undefined, out: InteractionEvent[]): void {
    const r = this.rand;
    const userId = `u${u}`;
    const id = (what: string) => `${this.idPrefix}-u${u}-${what}`;
    const ev = (source: SourceRef, type: InteractionEvent['type'], time: number, extra: Partial<InteractionEvent> = {}): InteractionEvent =>
      ({ id: id(`${source.id}-${type}`), type, userId, source, time, ...extra });
    const engaged = (t: number) => {
      if (!(this.engaged[u]! >= t)) this.engaged[u] = t;
    };
    const l1 = { kind: 'campaign' as const, id: 'L1' };
    if (click) {
      const a = r();
      const alias = a < SHARE.hero ? 'hero' : a < SHARE.hero + SHARE.footer ? 'footer' : undefined;
      if (alias) {
        click.linkAlias = alias;
        this.aliasedClicks++;
      }
      if (alias === 'hero') this.out[u] = 1;
      engaged(click.time);
    }
    // L1 (email): a hard bounce (only without a click), or a delivery, maybe after a soft bounce;
    // then maybe an open (a third machine opens) and a spam complaint.
    if (!click && r() < SHARE.hardBounce / 0.7) {
      out.push(ev(l1, 'bounce', send + 60_000, { channel: 'email' }));
      this.out[u] = 1;
    } else {
      if (r() < SHARE.softBounce) out.push(ev(l1, 'soft_bounce', send + 1_000, { channel: 'email' }));
      out.push(ev(l1, 'delivery', send + 300_000, { channel: 'email' }));
      if (r() < SHARE.open) {
        const t = send + 600_000 + Math.floor(r() * 6 * HOUR_MS);
        out.push(ev(l1, r() < SHARE.machineOpen ? 'machine_open' : 'open', t, { channel: 'email' }));
        engaged(t);
      }
      if (r() < SHARE.spam) {
        out.push(ev(l1, 'spam', send + 7 * HOUR_MS, { channel: 'email' }));
        this.out[u] = 1;
      }
    }
    // Canvas LC1 (push), step s1, variation V1 or V2: a send in the last 20 days, a delivery, maybe an open.
    if (r() < SHARE.canvas) {
      const v = r() < 0.5 ? 'V1' : 'V2';
      const t = this.now - HOUR_MS - Math.floor(r() * 20 * DAY_MS);
      const canvas = { channel: 'push' as const, stepId: 's1', variantId: v, canvasVariationId: v };
      out.push(ev(CANVAS, 'send', t, canvas), ev(CANVAS, 'delivery', t + 1_000, canvas));
      if (!(this.push[u]! >= t)) this.push[u] = t;
      if (v === 'V2') this.out[u] = 1;
      if (r() < SHARE.canvasOpen) {
        const o = t + Math.floor(r() * HOUR_MS);
        out.push(ev(CANVAS, 'open', o, canvas));
        engaged(o);
      }
    }
    // L3 (SMS): a send in the last 29 days, a delivery or a hard bounce (an invalid phone number).
    if (r() < SHARE.sms) {
      const t = this.now - 29 * DAY_MS + Math.floor(r() * 28 * DAY_MS);
      out.push(ev(SMS_CAMPAIGN, 'send', t, { channel: 'sms' }));
      if (r() < SHARE.smsBounce) {
        out.push(ev(SMS_CAMPAIGN, 'bounce', t + 5_000, { channel: 'sms' }));
        this.out[u] = 1;
      } else {
        out.push(ev(SMS_CAMPAIGN, 'delivery', t + 5_000, { channel: 'sms' }));
      }
    }
  }

  /**
   * Whether the new filter matches user u at time `now`; undefined when either answer is right
   * (the backlog may have added an event that takes the user out, not yet ingested or already).
   */
  expected(u: number, now: number): boolean | undefined {
    if (this.out[u]) return false;
    if (this.engaged[u]! >= now - ENGAGED_MS) return false;
    if (this.push[u]! >= now - PUSH_CAP_MS) return false;
    return this.backlog[u] ? undefined : true;
  }

  /**
   * Marks the users the backlog's events may take out of the answer: a bounce on email or SMS
   * (no window), a click or open or a push send recent enough for the windowed leaves (with a
   * day's margin). `events` are the backlog's events as published (backlog.ts, backlogEvents).
   */
  markBacklog(events: Iterable<{ userId: string; type: string; channel: string; time: number }>, now: number): { users: number } {
    let users = 0;
    for (const e of events) {
      const u = Number(e.userId.slice(1));
      if (!(u < this.backlog.length) || this.backlog[u]) continue;
      const touches = (e.type === 'bounce' && (e.channel === 'email' || e.channel === 'sms'))
        || ((e.type === 'click' || e.type === 'open' || e.type === 'machine_open') && e.time >= now - ENGAGED_MS - DAY_MS)
        || (e.type === 'send' && e.channel === 'push' && e.time >= now - PUSH_CAP_MS - DAY_MS);
      if (touches) (this.backlog[u] = 1), users++;
    }
    return { users };
  }
}

export interface KeyBytes {
  keys: number;
  /** MEMORY USAGE ... SAMPLES 0 of every key, summed. */
  bytes: number;
  /** Keys encoded as hash tables (users whose value outgrew the listpack limits). */
  hashtables: number;
  bytesPerUser: number;
}

export interface NewIndexMemory {
  users: number;
  /** Every key of each source, and of the any-message pseudo-source. */
  sources: Record<string, KeyBytes>;
  anyMessage: KeyBytes;
  /**
   * The alias indexes: the bytes of L1 and of the pseudo-source minus those of the same events
   * without `linkAlias`, written the same way into a scratch namespace.
   */
  alias: {
    inL1: number; inAnyMessage: number; bytes: number; bytesPerUser: number; aliasedClicks: number; bytesPerAliasedClick: number;
    /** The scratch copy's keys: a value that outgrows the listpack limits with its alias record turns its bucket into a hash table. */
    withoutAliases: { l1: KeyBytes; anyMessage: KeyBytes };
  };
  seconds: number;
}

/** Bytes of the keys matching `pattern` on every master. */
async function keyBytes(redis: Redis | Cluster, pattern: string, users: number): Promise<KeyBytes> {
  let keys = 0, bytes = 0, hashtables = 0;
  for (const node of masters({ redis })) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      cursor = next;
      const pipe = node.pipeline();
      for (const k of found) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0').object('ENCODING', k);
      const res = (await pipe.exec()) ?? [];
      for (let i = 0; i < res.length; i += 2) {
        const [err, b] = res[i]!;
        if (err) throw err;
        bytes += Number(b ?? 0);
        if (res[i + 1]![1] === 'hashtable') hashtables++;
      }
      keys += found.length;
    } while (cursor !== '0');
  }
  return { keys, bytes, hashtables, bytesPerUser: round(bytes / users, 2) };
}

/**
 * A scratch namespace that takes the same events without their link aliases, to weigh the
 * alias indexes by difference. Its keys are removed by `close`.
 */
export class AliasFreeCopy {
  readonly ns: string;
  private readonly hot: RedisHotIndex;

  constructor(private readonly ctx: Ctx) {
    this.ns = `${ctx.ns}noalias`;
    this.hot = new RedisHotIndex(ctx.redis, { namespace: this.ns });
  }

  async apply(events: InteractionEvent[]): Promise<void> {
    await this.hot.apply(foldEvents(events.map(({ linkAlias: _alias, ...e }) => e)));
  }

  /** The Redis bytes of the new indexes in the benchmark's namespace (`aliasedClicks` from the data). */
  async measure(users: number, aliasedClicks: number): Promise<NewIndexMemory> {
    const t0 = performance.now();
    const { ctx } = this;
    const of = (ns: string, s: IndexSource) => keyBytes(ctx.redis, sourceKeys(ns, s).pattern, users);
    const l1 = { kind: 'campaign' as const, id: 'L1' };
    const sources: Record<string, KeyBytes> = {};
    for (const s of [l1, CANVAS, SMS_CAMPAIGN]) sources[`${s.kind}:${s.id}`] = await of(ctx.ns, s);
    const anyMessage = await of(ctx.ns, ANY_MESSAGE);
    const withoutAliases = { l1: await of(this.ns, l1), anyMessage: await of(this.ns, ANY_MESSAGE) };
    const inL1 = sources['campaign:L1']!.bytes - withoutAliases.l1.bytes;
    const inAnyMessage = anyMessage.bytes - withoutAliases.anyMessage.bytes;
    const bytes = inL1 + inAnyMessage;
    return {
      users, sources, anyMessage,
      alias: {
        inL1, inAnyMessage, bytes, bytesPerUser: round(bytes / users, 2), aliasedClicks, bytesPerAliasedClick: round(bytes / Math.max(1, aliasedClicks), 1), withoutAliases,
      },
      seconds: round((performance.now() - t0) / 1000, 1),
    };
  }

  close(): Promise<number> {
    return this.hot.unlinkNamespace();
  }
}
