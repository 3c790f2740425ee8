/**
 * The data a check reads, and the checks: campaign L1 with `users` hot users (u0..), each with
 * a send in the last 29 days and `clickPct` percent of them a click within the hour after.
 * Written, not measured, by a tierstream of role `api` in this process (createTierstream), to
 * ClickHouse with history.insert and to Redis with hot.apply(foldEvents(chunk)), the write one
 * ingest batch makes; the source is made active through the tier manager. The request bodies
 * are `bodies` sets of `idsPerCheck` distinct random users, and since the data is generated
 * here, every answer is known in advance and checked.
 */
import { pino } from 'pino';
import type { Config } from '../../config.js';
import { createTierstream } from '../../runtime.js';
import { foldEvents, type InteractionEvent, type SourceRef } from '../../core/index.js';
import { sourceKeys } from '../../storage/index.js';
import { rng } from '../../scripts/generate.js';
import { round } from '../measure.js';
import type { Ctx } from './context.js';

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
}

export async function writeHotData(ctx: Ctx, config: Config): Promise<HotData> {
  const { p } = ctx;
  const ts = await createTierstream({ ...config, role: 'api' }, { log: pino({ level: 'warn', base: { ns: ctx.ns, module: 'bench-setup' } }) });
  try {
    const rand = rng(p.seed);
    const now = Date.now();
    const idPrefix = ctx.ns.replaceAll('_', '-');
    const clicked = new Uint8Array(p.users);
    const t0 = performance.now();
    let events = 0;
    await ts.tiers.setLifecycle(SOURCE, { status: 'active', name: 'bench lookups L1' });
    for (let from = 0; from < p.users; from += CHUNK_USERS) {
      ctx.signal.throwIfAborted();
      const chunk: InteractionEvent[] = [];
      for (let u = from; u < Math.min(from + CHUNK_USERS, p.users); u++) {
        const send = now - 29 * DAY_MS + Math.floor(rand() * 28 * DAY_MS);
        const base = { userId: `u${u}`, source: SOURCE, channel: 'email' as const };
        chunk.push({ ...base, id: `${idPrefix}-L1-u${u}-send`, type: 'send', time: send });
        if (rand() * 100 < p.clickPct) {
          clicked[u] = 1;
          chunk.push({ ...base, id: `${idPrefix}-L1-u${u}-click`, type: 'click', time: send + Math.floor(rand() * 3_600_000) });
        }
      }
      await Promise.all([ts.history.insert(chunk), ts.hot.apply(foldEvents(chunk))]);
      events += chunk.length;
    }
    const keys = sourceKeys(ctx.ns, SOURCE);
    return {
      events,
      seconds: round((performance.now() - t0) / 1000, 1),
      redis: { any: Number(await ctx.redis.hget(keys.meta, 'n')), send: p.users, click: clicked.reduce((n: number, c: number) => n + c, 0) },
      clicked,
    };
  } finally {
    await ts.close();
  }
}

export interface Bodies {
  bodies: string[];
  /** The users each body asks about. */
  ids: string[][];
}

/** `bodies` request bodies, each `idsPerCheck` distinct random users of the source (seeded). */
export function requestBodies(ctx: Ctx): Bodies {
  const { p } = ctx;
  const rand = rng(p.seed + 1);
  const ids: string[][] = [];
  for (let b = 0; b < p.bodies; b++) {
    const set = new Set<string>();
    while (set.size < p.idsPerCheck) set.add(`u${Math.floor(rand() * p.users)}`);
    ids.push([...set]);
  }
  return { ids, bodies: ids.map((userIds) => JSON.stringify({ filter: FILTER, userIds })) };
}

export interface Agreement {
  compared: number;
  correct: number;
  meanMatched: number;
}

/** Asks the first SAMPLE bodies over HTTP and compares each answer with the users that have no click. */
export async function checkAnswers(url: string, headers: Record<string, string>, pool: Bodies, clicked: Uint8Array): Promise<Agreement> {
  const n = Math.min(SAMPLE, pool.bodies.length);
  let correct = 0;
  let matched = 0;
  for (let i = 0; i < n; i++) {
    const res = await fetch(url, { method: 'POST', headers, body: pool.bodies[i] });
    const json = (await res.json()) as { matched?: string[]; servedFrom?: string };
    if (res.status !== 200 || json.servedFrom !== 'hot' || !json.matched) throw new Error(`check answered ${res.status}: ${JSON.stringify(json)}`);
    const expected = pool.ids[i]!.filter((id) => clicked[Number(id.slice(1))] === 0).sort();
    if (JSON.stringify([...json.matched].sort()) === JSON.stringify(expected)) correct++;
    matched += json.matched.length;
  }
  return { compared: n, correct, meanMatched: round(matched / n, 1) };
}
