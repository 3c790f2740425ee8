/**
 * The data a check reads, and the checks: campaign L1 with `users` hot users (u0..), each with
 * a send in the last 29 days and `clickPct` percent of them a click within the hour after.
 * Written, not measured, by a tierstream of role `api` in this process (createTierstream), to
 * ClickHouse with history.insert and to Redis with hot.apply(foldEvents(chunk)), the write one
 * ingest batch makes; the source is made active through the tier manager. With `newLeaves`
 * (the lookups benchmark), the same users also get the events the new hot leaves read
 * (new-leaves.ts: link aliases on the clicks, deliveries, opens, bounces, spam, a push canvas
 * with variations, an SMS campaign), and a scratch copy without aliases weighs the alias
 * indexes. The request bodies are `bodies` sets of `idsPerCheck` distinct random users, the
 * same users for every filter, and since the data is generated here, every answer is known in
 * advance and checked.
 */
import { pino } from 'pino';
import type { Config } from '../../config.js';
import { createTierstream } from '../../runtime.js';
import { foldEvents, type InteractionEvent, type SourceRef } from '../../core/index.js';
import { sourceKeys } from '../../storage/index.js';
import { rng } from '../../scripts/generate.js';
import { round } from '../measure.js';
import type { Ctx } from './context.js';
import { AliasFreeCopy, CANVAS, NewLeavesData, SMS_CAMPAIGN, type NewIndexMemory } from './new-leaves.js';

export const SOURCE: SourceRef = { kind: 'campaign', id: 'L1' };
/** "Sent L1 and not clicked L1". */
export const FILTER = { and: [{ campaign: 'L1', event: 'send' }, { not: { campaign: 'L1', event: 'click' } }] };
/** Bodies whose answers are compared with the expected ones, before and after the phases. */
const SAMPLE = 20;
/** Users generated, inserted and applied at a time. */
const CHUNK_USERS = 50_000;
const DAY_MS = 86_400_000;

export interface HotData {
  events: number;
  seconds: number;
  /** Users in the source's indexes, as Redis holds them. */
  redis: { any: number; send: number; click: number };
  /** clicked[u] = 1 when user u has a click. */
  clicked: Uint8Array;
  /** With `newLeaves`: the new leaves' data and answers, and the Redis bytes of the new indexes. */
  newLeaves?: { data: NewLeavesData; memory: NewIndexMemory };
}

export async function writeHotData(ctx: Ctx, config: Config, opts: { newLeaves?: boolean } = {}): Promise<HotData> {
  const { p } = ctx;
  const ts = await createTierstream({ ...config, role: 'api' }, { log: pino({ level: 'warn', base: { ns: ctx.ns, module: 'bench-setup' } }) });
  const copy = opts.newLeaves ? new AliasFreeCopy(ctx) : undefined;
  try {
    const rand = rng(p.seed);
    const now = Date.now();
    const idPrefix = ctx.ns.replaceAll('_', '-');
    const clicked = new Uint8Array(p.users);
    const t0 = performance.now();
    let events = 0;
    const data = opts.newLeaves ? new NewLeavesData(p.users, p.seed, now, `${idPrefix}-n`) : undefined;
    await ts.tiers.setLifecycle(SOURCE, { status: 'active', name: 'bench lookups L1' });
    if (data) {
      await ts.tiers.setLifecycle(CANVAS, { status: 'active', name: 'bench lookups LC1 (push, variations V1 and V2)' });
      await ts.tiers.setLifecycle(SMS_CAMPAIGN, { status: 'active', name: 'bench lookups L3 (SMS)' });
    }
    for (let from = 0; from < p.users; from += CHUNK_USERS) {
      ctx.signal.throwIfAborted();
      const chunk: InteractionEvent[] = [];
      for (let u = from; u < Math.min(from + CHUNK_USERS, p.users); u++) {
        const send = now - 29 * DAY_MS + Math.floor(rand() * 28 * DAY_MS);
        const base = { userId: `u${u}`, source: SOURCE, channel: 'email' as const };
        chunk.push({ ...base, id: `${idPrefix}-L1-u${u}-send`, type: 'send', time: send });
        let click: InteractionEvent | undefined;
        if (rand() * 100 < p.clickPct) {
          clicked[u] = 1;
          chunk.push(click = { ...base, id: `${idPrefix}-L1-u${u}-click`, type: 'click', time: send + Math.floor(rand() * 3_600_000) });
        }
        data?.addUser(u, send, click, chunk);
      }
      await Promise.all([ts.history.insert(chunk), ts.hot.apply(foldEvents(chunk)), copy?.apply(chunk)]);
      events += chunk.length;
    }
    const seconds = round((performance.now() - t0) / 1000, 1);
    const keys = sourceKeys(ctx.ns, SOURCE);
    return {
      events,
      seconds,
      redis: { any: Number(await ctx.redis.hget(keys.meta, 'n')), send: p.users, click: clicked.reduce((n: number, c: number) => n + c, 0) },
      clicked,
      ...(data && copy && { newLeaves: { data, memory: await copy.measure(p.users, data.aliasedClicks) } }),
    };
  } finally {
    await copy?.close();
    await ts.close();
  }
}

export interface Bodies {
  bodies: string[];
  /** The users each body asks about. */
  ids: string[][];
}

/** `bodies` request bodies, each `idsPerCheck` distinct random users of the source (seeded: the same users whatever the filter). */
export function requestBodies(ctx: Ctx, filter: object = FILTER): Bodies {
  const { p } = ctx;
  const rand = rng(p.seed + 1);
  const ids: string[][] = [];
  for (let b = 0; b < p.bodies; b++) {
    const set = new Set<string>();
    while (set.size < p.idsPerCheck) set.add(`u${Math.floor(rand() * p.users)}`);
    ids.push([...set]);
  }
  return { ids, bodies: ids.map((userIds) => JSON.stringify({ filter, userIds })) };
}

export interface Agreement {
  compared: number;
  correct: number;
  meanMatched: number;
  /** Asked users whose answer was not compared: either answer was right (see Expected). */
  uncertain?: number;
}

/**
 * Whether the filter matches user number u at time `now`; undefined when either answer is
 * right. Each answer is compared with this at the request's send and at its answer: a user
 * whose expected answer changes in between (a window's edge) is not compared either.
 */
export type Expected = (u: number, now: number) => boolean | undefined;

/**
 * Asks the first SAMPLE bodies over HTTP and compares each answer with the expected one: the
 * users that have no click (the first filter), or `expected`. An answer is correct when it
 * holds only asked users, each once, and agrees on every user with a certain answer.
 */
export async function checkAnswers(url: string, headers: Record<string, string>, pool: Bodies, expected: Uint8Array | Expected): Promise<Agreement> {
  const want: Expected = expected instanceof Uint8Array ? (u) => expected[u] === 0 : expected;
  const n = Math.min(SAMPLE, pool.bodies.length);
  let correct = 0;
  let matched = 0;
  let uncertain = 0;
  for (let i = 0; i < n; i++) {
    const sentAt = Date.now();
    const res = await fetch(url, { method: 'POST', headers, body: pool.bodies[i] });
    const json = (await res.json()) as { matched?: string[]; servedFrom?: string };
    const answeredAt = Date.now();
    if (res.status !== 200 || json.servedFrom !== 'hot' || !json.matched) throw new Error(`check answered ${res.status}: ${JSON.stringify(json)}`);
    const asked = pool.ids[i]!;
    const got = new Set(json.matched);
    let ok = got.size === json.matched.length && json.matched.every((id) => asked.includes(id));
    for (const id of asked) {
      const u = Number(id.slice(1));
      const a = want(u, sentAt);
      if (a === undefined || a !== want(u, answeredAt)) {
        uncertain++;
        continue;
      }
      if (got.has(id) !== a) ok = false;
    }
    if (ok) correct++;
    matched += json.matched.length;
  }
  return { compared: n, correct, meanMatched: round(matched / n, 1), uncertain };
}
