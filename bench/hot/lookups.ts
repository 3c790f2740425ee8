/**
 * The lookups the hot benchmark times, over HTTP against a tierstream API process (as a client
 * asks them): count (exact), count with "estimate": true, and a full audience walk, page by
 * page with the cursor each page hands out.
 */
import type { Redis } from 'ioredis';
import { parseFilter, type SourceRegistry, type HistoryLookup } from '../../core/index.js';
import { createLookup } from '../../engine/lookup/index.js';
import { RedisHotIndex } from '../../storage/index.js';
import { median, round } from '../measure.js';
import { latencySummary, type LatencyMs } from '../load-child.js';
import { FILTER } from './data.js';

async function post(url: string, headers: Record<string, string>, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

export interface CountResult {
  /** NaN when every run timed out. */
  count: number;
  /** Runs answered 503 lookup_timeout (the API's walk budget, 9 s): their time is the budget's. */
  timedOut: number;
  runsMs: number[];
  medianMs: number;
}

/** `runs` exact counts one after the other: the median time and the count (all runs must agree). */
export async function countExact(baseUrl: string, headers: Record<string, string>, runs: number): Promise<CountResult> {
  const runsMs: number[] = [];
  let count = NaN;
  let timedOut = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const res = await fetch(`${baseUrl}/v1/retargeting/count`, { method: 'POST', headers, body: JSON.stringify({ filter: FILTER }) });
    const r = (await res.json()) as Record<string, unknown>;
    runsMs.push(round(performance.now() - t0, 1));
    if (res.status === 503 && (r.error ?? r.code) === 'lookup_timeout') {
      timedOut++;
      continue;
    }
    if (res.status !== 200) throw new Error(`count answered ${res.status}: ${JSON.stringify(r).slice(0, 300)}`);
    if (!Number.isNaN(count) && r.count !== count) throw new Error(`exact counts differ between runs: ${count} then ${String(r.count)}`);
    count = Number(r.count);
  }
  return { count, timedOut, runsMs, medianMs: round(median(runsMs), 1) };
}

export interface EstimateResult {
  count: number;
  margin: number;
  runsMs: number[];
  medianMs: number;
}

export async function countEstimate(baseUrl: string, headers: Record<string, string>, runs: number): Promise<EstimateResult> {
  const runsMs: number[] = [];
  let r: Record<string, unknown> = {};
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    r = await post(`${baseUrl}/v1/retargeting/count`, headers, { filter: FILTER, estimate: true });
    runsMs.push(round(performance.now() - t0, 2));
  }
  return { count: Number(r.count), margin: Number(r.margin), runsMs, medianMs: round(median(runsMs), 2) };
}

export interface WalkResult {
  users: number;
  pages: number;
  seconds: number;
  usersPerSecond: number;
  pageMs: LatencyMs;
  /** Users that came twice (must be 0). */
  duplicates: number;
}

/** Walks the whole audience, `limit` users a page; stops early (partial walk) when `stop()` says so. */
export async function walk(baseUrl: string, headers: Record<string, string>, limit: number, stop: () => boolean = () => false): Promise<WalkResult & { complete: boolean }> {
  const seen = new Set<string>();
  const pageMs: number[] = [];
  let duplicates = 0;
  let cursor: string | null | undefined;
  const t0 = performance.now();
  do {
    const p0 = performance.now();
    const r = await post(`${baseUrl}/v1/retargeting/audience`, headers, { filter: FILTER, limit, ...(cursor && { cursor }) });
    pageMs.push(performance.now() - p0);
    for (const u of r.users as string[]) {
      if (seen.has(u)) duplicates++;
      else seen.add(u);
    }
    cursor = r.cursor as string | null;
  } while (cursor && !stop());
  const seconds = (performance.now() - t0) / 1000;
  return {
    users: seen.size, pages: pageMs.length, seconds: round(seconds, 3), usersPerSecond: Math.round(seen.size / seconds),
    pageMs: latencySummary(Float64Array.from(pageMs)), duplicates, complete: !cursor,
  };
}

/**
 * A walk as `walk` does it, but by a Lookup in this process (createLookup over a RedisHotIndex of
 * the bench's own connection, no registry: every source reads as hot), so the API process
 * serving checks meanwhile shares only Redis and the machine with it, not its event loop.
 */
export async function walkInProcess(redis: Redis, ns: string, limit: number, stop: () => boolean): Promise<WalkResult & { complete: boolean }> {
  const registry = { peek: () => null, get: async () => null, tagged: () => [] } as unknown as SourceRegistry;
  const history = {} as HistoryLookup;
  const lookup = createLookup({ registry, hot: new RedisHotIndex(redis, { namespace: ns }), history });
  const filter = parseFilter(FILTER);
  const seen = new Set<string>();
  const pageMs: number[] = [];
  let duplicates = 0;
  let cursor: string | null | undefined;
  const t0 = performance.now();
  do {
    const p0 = performance.now();
    const r = await lookup.audience(filter, limit, cursor ?? undefined);
    pageMs.push(performance.now() - p0);
    for (const u of r.users) {
      if (seen.has(u)) duplicates++;
      else seen.add(u);
    }
    cursor = r.next;
  } while (cursor && !stop());
  const seconds = (performance.now() - t0) / 1000;
  return {
    users: seen.size, pages: pageMs.length, seconds: round(seconds, 3), usersPerSecond: Math.round(seen.size / seconds),
    pageMs: latencySummary(Float64Array.from(pageMs)), duplicates, complete: !cursor,
  };
}
