/**
 * Count-leaf checks: POST /v1/retargeting/check with 100 user ids against a filter mixing hot
 * leaves and a count leaf ("sent L1, not clicked L1, and opened L1 at least twice in the last 30
 * days"), beside the same check without the count leaf and with the count over 31 days (past
 * the hot counts' 30-day horizon, so from ClickHouse: one query per check, after the Redis
 * read), open loop at a fixed rate, against tierstream as npm start runs it. Data: the lookups
 * benchmark's campaign L1 (hot-data.ts), plus 0 to `max-opens` opens per user in the last 29
 * days, written to history and to the hot tier as ingest writes them. Every sampled answer is
 * compared with the expected one first. Also the Redis memory of L1's hot counts per user.
 */
import os from 'node:os';
import { foldEvents, type InteractionEvent } from '../../core/index.js';
import { RedisHotIndex } from '../../storage/redis/index.js';
import { sourceBytes } from '../hot/source-bytes.js';
import { rng } from '../../scripts/generate.js';
import { round } from '../measure.js';
import type { Benchmark } from '../types.js';
import { cleanupNamespace, machineInfo, writeResult } from '../namespace.js';
import { runOpenLoop, type OpenLoopResult } from '../open-loop.js';
import { latencySummary, type LatencyMs } from '../load-child.js';
import { openContext, type Params } from './context.js';
import { FILTER, SOURCE, writeHotData } from './hot-data.js';
import { freePort, startTierstream, type TierstreamProcess } from './tierstream-process.js';
import { waitForMerges } from './benchmark.js';

const DAY_MS = 86_400_000;
/** The filter measured: the lookups benchmark's, and a count leaf (within the hot counts' 30 days: served hot). */
export const MIXED_FILTER = { and: [...FILTER.and, { campaign: 'L1', event: 'open', times: { min: 2 }, within: 'P30D' }] };
/** The same count over 31 days: past the hot counts' horizon, so from history (the opens are all in the last 29 days: same answers). */
export const MIXED_HISTORY_FILTER = { and: [...FILTER.and, { campaign: 'L1', event: 'open', times: { min: 2 }, within: 'P31D' }] };
/** Bodies whose answers are compared with the expected ones. */
const SAMPLE = 20;
/** Checks sent one at a time before the open loop: the service time without queueing. */
const SEQUENTIAL = 200;

export const countCheck: Benchmark = {
  name: 'count-check',
  question:
    'How long does a send-time check of 100 users take when its filter mixes hot leaves and a count leaf (from the hot counts, or past their horizon from ClickHouse), ' +
    'open loop at a fixed rate (the issue\'s target: p99 <= 20 ms at 200/s), beside the same filter without the count leaf? What do the hot counts cost in Redis memory?',
  options: {
    users: { default: 50_000, min: 100, description: 'hot users of campaign L1 (u0..), each with a send (hot-data.ts)' },
    'click-pct': { default: 30, min: 0, description: 'percent of them with a click' },
    'max-opens': { default: 4, min: 0, description: 'opens per user in history, uniform in 0..N' },
    'ids-per-check': { default: 100, min: 1, description: 'user ids per check request' },
    bodies: { default: 500, min: 1, description: 'distinct request bodies (random ids), sent in turn' },
    rate: { default: 200, min: 1, description: 'open loop: offered checks/s' },
    duration: { default: 15, min: 1, description: 'open loop: seconds measured per filter' },
    warmup: { default: 3, min: 0, description: 'open loop: seconds at the same rate first, not measured' },
    seed: { default: 1, min: 0, description: 'PRNG seed' },
  },
  async run(raw, signal) {
    const p: Params = {
      users: raw.users!, clickPct: raw['click-pct']!, idsPerCheck: raw['ids-per-check']!, bodies: raw.bodies!, seed: raw.seed!,
      duration: raw.duration!, warmup: raw.warmup!, rateLow: raw.rate!, rateHigh: raw.rate!, sockets: 256,
      connections: 1, closedDuration: 1, closedWarmup: 0, generatorNice: 0, backlog: 1, backlogCampaigns: 1, backlogUsers: 1,
    };
    if (p.idsPerCheck > Math.min(1_000, p.users)) throw new RangeError('--ids-per-check must be at most 1000 and --users');
    const { ctx, env, config } = await openContext(p, signal);
    const startedAt = new Date();
    const loadAtStart = os.loadavg();
    let ts: TierstreamProcess | undefined;
    try {
      ts = await startTierstream(env, await freePort(), signal);
      const setup = await writeHotData(ctx, config);
      // Opens, to history and to the hot tier (with their hot-count marks), as ingest writes them.
      const hot = new RedisHotIndex(ctx.redis, { namespace: ctx.ns });
      const memoryBefore = await sourceBytes(ctx.redis, ctx.ns, SOURCE);
      const rand = rng(p.seed + 7);
      const opens = new Uint8Array(p.users);
      const now = Date.now();
      const idPrefix = ctx.ns.replaceAll('_', '-');
      let chunk: InteractionEvent[] = [];
      let openEvents = 0;
      for (let u = 0; u < p.users; u++) {
        opens[u] = Math.floor(rand() * (raw['max-opens']! + 1));
        for (let k = 0; k < opens[u]!; k++) {
          chunk.push({ id: `${idPrefix}-L1-u${u}-open${k}`, type: 'open', userId: `u${u}`, source: SOURCE, channel: 'email', time: now - 29 * DAY_MS + Math.floor(rand() * 28 * DAY_MS) });
        }
        if (chunk.length >= 50_000 || u === p.users - 1) {
          await Promise.all([ctx.history.insert(chunk), hot.apply(foldEvents(chunk))]);
          openEvents += chunk.length;
          chunk = [];
        }
      }
      const memory = await sourceBytes(ctx.redis, ctx.ns, SOURCE);
      console.log(`L1 in Redis: records ${memory.records.toLocaleString('en-US')} B, hot counts ${memory.counts.toLocaleString('en-US')} B for ${(setup.events + openEvents).toLocaleString('en-US')} events ` +
        `(${round(memory.counts / p.users, 1)} B a user, ${round(memory.counts / (setup.events + openEvents), 1)} B an event; before the opens: ${memoryBefore.counts.toLocaleString('en-US')} B)`);
      const merges = await waitForMerges(ctx);
      const [byUser] = await ctx.history.select<{ n: string }>(`SELECT count() AS n FROM ${ctx.ns}.events_by_user`);
      console.log(`setup: ${setup.events.toLocaleString('en-US')} sends and clicks (history and hot), ${openEvents.toLocaleString('en-US')} opens (history; ${Number(byUser!.n).toLocaleString('en-US')} rows in events_by_user); merges done in ${merges.seconds} s; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

      const ids = Array.from({ length: p.bodies }, () => {
        const set = new Set<string>();
        while (set.size < p.idsPerCheck) set.add(`u${Math.floor(rand() * p.users)}`);
        return [...set];
      });
      const url = `${ts.baseUrl}/v1/retargeting/check`;
      const results: Record<string, OpenLoopResult & { filter: object; correct: number; sequential: LatencyMs }> = {};
      for (const [name, filter] of [
        ['hot leaves only', FILTER], ['mixed: hot leaves and a count leaf (hot counts)', MIXED_FILTER], ['mixed: hot leaves and a count leaf (from history)', MIXED_HISTORY_FILTER],
      ] as const) {
        const bodies = ids.map((userIds) => JSON.stringify({ filter, userIds }));
        let correct = 0;
        for (let i = 0; i < Math.min(SAMPLE, ids.length); i++) {
          const res = await fetch(url, { method: 'POST', headers: ctx.headers, body: bodies[i] });
          const json = (await res.json()) as { matched: string[] };
          const expected = ids[i]!.filter((id) => {
            const u = Number(id.slice(1));
            return setup.clicked[u] === 0 && (filter === FILTER || opens[u]! >= 2);
          });
          if (res.status === 200 && JSON.stringify(json.matched.sort()) === JSON.stringify(expected.sort())) correct++;
        }
        if (correct !== Math.min(SAMPLE, ids.length)) throw new Error(`${name}: ${correct} sample answers as expected; the numbers would be meaningless`);
        // Service time without queueing: one check at a time.
        const alone = new Float64Array(SEQUENTIAL);
        for (let i = 0; i < SEQUENTIAL; i++) {
          const t0 = performance.now();
          const res = await fetch(url, { method: 'POST', headers: ctx.headers, body: bodies[i % bodies.length] });
          await res.arrayBuffer();
          alone[i] = performance.now() - t0;
        }
        const sequential = latencySummary(alone);
        console.log(`${name}: one at a time (${SEQUENTIAL} checks): p50 ${sequential.p50} ms, p90 ${sequential.p90}, p99 ${sequential.p99}`);
        const r = await runOpenLoop({ url, headers: ctx.headers, bodies, rate: p.rateLow, durationSeconds: p.duration, warmupSeconds: p.warmup, sockets: p.sockets, timeoutMs: 10_000 });
        results[name] = { ...r, filter, correct, sequential };
        const l = r.latencyMs;
        console.log(`${name}: ${r.answered}/${r.requests} answered at ${p.rateLow}/s (${r.non2xx} non-2xx, ${r.errors} errors); ` +
          `latency from due time p50 ${l.p50} ms, p90 ${l.p90}, p99 ${l.p99}, p99.9 ${l.p999}, max ${l.max}; generator send lag p99 ${r.sendLagMs.p99} ms`);
      }
      const file = writeResult('count-check', startedAt, {
        benchmark: 'count-check', question: countCheck.question, startedAt: startedAt.toISOString(), namespace: ctx.ns,
        parameters: { ...raw }, setup: { sendsAndClicks: setup.events, opens: openEvents, merges, redisBytes: memory, redisBytesBeforeOpens: memoryBefore },
        machine: await machineInfo(ctx, loadAtStart),
        results: Object.fromEntries(Object.entries(results).map(([k, r]) => [k, { rate: r.rate, requests: r.requests, answered: r.answered, non2xx: r.non2xx, errors: r.errors, latencyMs: r.latencyMs, sendLagMs: r.sendLagMs, sequentialMs: r.sequential, filter: r.filter }])),
        target: 'p99 <= 20 ms at 200/s (mixed)', seconds: round((Date.now() - startedAt.getTime()) / 1000, 1),
      });
      console.log(`\nresult written to ${file}`);
    } finally {
      await cleanupNamespace(ctx, [['tierstream (SIGTERM, drain)', async () => ts?.stop()]]);
    }
  },
};
