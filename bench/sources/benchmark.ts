/**
 * sources: does tierstream stay within its targets with a million sources in a namespace?
 * See bench/README.md, "sources", for the question, the method and the targets.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, StorageType, type KV, type NatsConnection } from 'nats';
import { configFromEnv } from '../../config.js';
import { MAX_TRANSITIONS, type SourceKind, type SourceRecord, type Tier } from '../../core/index.js';
import { bucketNames, registryKey } from '../../storage/nats/index.js';
import { median, pidCpuSeconds, round, table } from '../measure.js';
import { runOpenLoop } from '../open-loop.js';
import { freePort, startTierstream, type TierstreamProcess } from '../lookups/tierstream-process.js';
import type { Benchmark } from '../types.js';

/** The targets (bench/README.md, "sources"), reported, never asserted. */
export const TARGETS = {
  /** Heap and RSS a mirrored source adds to each process, bytes. */
  bytesPerSource: 600,
  overviewMedianMs: 50,
  /** A listing page's median: its store reads (one ClickHouse query, a Redis pipeline, 100 KV reads) are most of it. */
  listingMedianMs: 100,
  /** Check p99 in the big namespace over the small one's, at the same rate. */
  checkP99Ratio: 1.5,
  /** API CPU for `changes` new sources with `filters` filters over with none. */
  filterCpuRatio: 1.25,
};

const DAY = 86_400_000;
/** Records written at a time by the bulk writer (each a KV put; the acks awaited per batch). */
const PUT_BATCH = 2_000;
const TAGS = 1_000;

interface Params {
  sources: number;
  baseline: number;
  rate: number;
  seconds: number;
  filters: number;
  changes: number;
  requests: number;
}

/** Source i of a namespace: a fifth of them canvases; 80% expired, 20% hot (a tenth of those stopped and expiring within 30 days); a few restoring and demoting. */
function record(i: number, now: number, prefix = 's'): SourceRecord {
  const kind: SourceKind = i % 5 === 4 ? 'canvas' : 'campaign';
  const created = now - 90 * DAY + (i % 1_000) * 1_000;
  const tier: Tier = i % 50_000 === 7 ? 'restoring' : i % 50_000 === 11 ? 'demoting' : i % 5 === 0 ? 'hot' : 'expired';
  const stopped = tier !== 'hot' || i % 50 === 0;
  const transitions: SourceRecord['transitions'] = [{ tier: 'hot', at: created, reason: 'created by first event' }];
  if (tier !== 'hot') transitions.push({ tier: 'demoting', at: created + 30 * DAY, reason: 'expired: stopped' });
  if (tier === 'expired' || tier === 'restoring') transitions.push({ tier: 'expired', at: created + 30 * DAY + 5_000, reason: 'demotion finished' });
  if (tier === 'restoring') transitions.push({ tier: 'restoring', at: now - 60_000, reason: 'restore requested' });
  const last = transitions[transitions.length - 1]!;
  return {
    kind, id: `${prefix}${i}`, status: stopped ? 'stopped' : 'active', tier, name: `Source ${i}`, tags: [`t${i % TAGS}`],
    stoppedAt: stopped ? created + 1_000 : null,
    expiresAt: tier === 'hot' && stopped ? now + (i % 30) * DAY : null,
    pinnedBy: [], lastUnpinAt: null,
    restore: tier === 'restoring' ? { startedAt: now - 60_000, finishedAt: null, progress: 0.5, progressAt: now - 1_000 } : null,
    lease: null, pendingRestore: false,
    transitions: transitions.slice(-MAX_TRANSITIONS), notified: { at: last.at, tier: last.tier }, createdAt: created,
  };
}

/** Puts records from..to-1 into the registry bucket directly (no ingest), PUT_BATCH at a time. */
async function bulkWrite(kv: KV, from: number, to: number, now: number, prefix = 's'): Promise<number> {
  const t0 = performance.now();
  for (let i = from; i < to; i += PUT_BATCH) {
    const puts: Promise<unknown>[] = [];
    for (let k = i; k < Math.min(to, i + PUT_BATCH); k++) {
      const r = record(k, now, prefix);
      puts.push(kv.put(registryKey(r), JSON.stringify(r)));
    }
    await Promise.all(puts);
  }
  return (performance.now() - t0) / 1000;
}

const rssMiB = (pid: number) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
};

async function timedGet(url: string, headers: Record<string, string>): Promise<{ ms: number; body: any }> {
  const t0 = performance.now();
  const res = await fetch(url, { headers });
  const body = await res.json();
  if (!res.ok) throw new Error(`${url}: ${res.status} ${JSON.stringify(body)}`);
  return { ms: performance.now() - t0, body };
}

async function timedMany(n: number, url: string, headers: Record<string, string>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await timedGet(url, headers)).ms);
  return out;
}

interface NamespaceResult {
  sources: number;
  writeSeconds: number;
  readySeconds: number;
  rssMiB: { engine: number; api: number };
  overviewFirstMs: number;
  overviewMs: number;
  listingMs: Record<string, number>;
  check: { p50: number; p99: number; answered: number; requests: number };
  changeCpu?: { filters0: { api: number; engine: number }; filters: { api: number; engine: number }; registerSeconds: number };
}

/** Waits until the API's overview counts `total` sources (its mirror has them all). */
async function untilTotal(base: string, headers: Record<string, string>, total: number, signal: AbortSignal): Promise<void> {
  for (;;) {
    signal.throwIfAborted();
    const { body } = await timedGet(`${base}/v1/overview?top=0&transitions=0`, headers);
    if (body.sources.total >= total) return;
    await sleep(200);
  }
}

async function measureNamespace(nc: NatsConnection, n: number, p: Params, signal: AbortSignal, withChanges: boolean): Promise<NamespaceResult> {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const key = randomBytes(16).toString('hex');
  const env = { TIERSTREAM_NAMESPACE: ns, TIERSTREAM_RATE_LIMIT: '10000000', TIERSTREAM_API_KEYS: `${key}:admin`, TIER_EXPIRE_AFTER: 'P30D' };
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  const kv = await nc.jetstream().views.kv(bucketNames(ns).sources, { history: 1, storage: StorageType.File, allow_direct: false });
  let proc: TierstreamProcess | undefined;
  try {
    const now = Date.now();
    console.log(`  ${ns}: writing ${n} sources to the registry bucket`);
    const writeSeconds = await bulkWrite(kv, 0, n, now);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    proc = await startTierstream(env, port, signal, { role: 'all' });
    await untilTotal(base, headers, n, signal);
    const first = await timedGet(`${base}/v1/overview`, headers);
    const overview = await timedMany(p.requests, `${base}/v1/overview`, headers);
    const listingMs: Record<string, number> = {};
    const cursor = Buffer.from(`campaign:s${Math.floor(n / 2)}`, 'utf8').toString('base64url');
    for (const [label, q] of [['first page', ''], ['mid cursor', `cursor=${cursor}`], ['kind=canvas', 'kind=canvas'], ['tier=restoring', 'tier=restoring'], ['tag=t5', 'tag=t5'], ['status=active', 'status=active'], ['q=name 4242', 'q=source%204242']] as const) {
      listingMs[label] = median(await timedMany(label.startsWith('q=') ? 3 : p.requests, `${base}/v1/sources?limit=100&${q}`, headers));
    }
    await sleep(2_000); // the hot measurement started by the first overview is over
    const rss = { engine: rssMiB(proc.pids.engine), api: rssMiB(proc.pids.api) };
    const bodies = Array.from({ length: 50 }, (_, b) => JSON.stringify({ filter: { campaign: 's5', event: 'send' }, userIds: Array.from({ length: 20 }, (_, u) => `u${b * 20 + u}`) }));
    const load = await runOpenLoop({ url: `${base}/v1/check`, headers, bodies, rate: p.rate, durationSeconds: p.seconds, warmupSeconds: 2, sockets: 64, timeoutMs: 10_000 });
    const result: NamespaceResult = {
      sources: n, writeSeconds: round(writeSeconds, 1), readySeconds: round(proc.readySeconds, 1), rssMiB: { engine: round(rss.engine), api: round(rss.api) },
      overviewFirstMs: round(first.ms, 1), overviewMs: round(median(overview), 1), listingMs: Object.fromEntries(Object.entries(listingMs).map(([k, v]) => [k, round(v, 1)])),
      check: { p50: load.latencyMs.p50, p99: load.latencyMs.p99, answered: load.answered, requests: load.requests },
    };
    if (withChanges) {
      // Registry changes: `changes` new sources, written directly, with no filter and then with `filters` filters.
      const cpu = () => ({ api: pidCpuSeconds(proc!.pids.api), engine: pidCpuSeconds(proc!.pids.engine) });
      const phase = async (from: number, prefix: string) => {
        const before = cpu();
        await bulkWrite(kv, from, from + p.changes, now, prefix);
        await untilTotal(base, headers, n + from + p.changes, signal);
        await sleep(1_000); // pins settle
        const after = cpu();
        return { api: round(after.api - before.api, 2), engine: round(after.engine - before.engine, 2) };
      };
      await sleep(2_000);
      const filters0 = await phase(0, 'new-a-');
      const t0 = performance.now();
      for (let f = 0; f < p.filters; f++) {
        // Each names one hot source by id (no restore) and, every tenth, a tag no source carries.
        const filter = f % 10 === 0 ? { or: [{ campaign: `s${f * 5}`, event: 'send' }, { tag: `none${f}`, event: 'click' }] } : { campaign: `s${f * 5}`, event: 'send' };
        const res = await fetch(`${base}/v1/filters/bench-${f}`, { method: 'PUT', headers, body: JSON.stringify({ filter }) });
        if (!res.ok) throw new Error(`PUT filter ${f}: ${res.status} ${await res.text()}`);
      }
      const registerSeconds = (performance.now() - t0) / 1000;
      await sleep(2_000);
      const filters = await phase(p.changes, 'new-b-');
      result.changeCpu = { filters0, filters, registerSeconds: round(registerSeconds, 1) };
    }
    return result;
  } finally {
    await proc?.stop().catch(() => undefined);
    await kv.destroy().catch(() => undefined);
    for (const b of ['filters', 'erasures', 'ingest']) await (await nc.jetstream().views.kv(`${ns}_${b}`)).destroy().catch(() => undefined);
  }
}

export const sources: Benchmark = {
  name: 'sources',
  question: 'With a million sources in a namespace, do every process\'s memory, the overview, a listing page, a check and a registry change stay within their targets (bench/README.md, "sources")?',
  options: {
    sources: { default: 1_000_000, min: 1, description: 'sources in the big namespace' },
    baseline: { default: 1_000, min: 1, description: 'sources in the baseline namespace, measured first in the same run' },
    rate: { default: 200, min: 1, description: 'checks per second, open loop' },
    seconds: { default: 10, min: 1, description: 'seconds of checks measured' },
    filters: { default: 2_000, min: 0, description: 'filters registered before the second registry-change phase' },
    changes: { default: 10_000, min: 1, description: 'new sources written in each registry-change phase' },
    requests: { default: 20, min: 1, description: 'overview and listing requests per measure (median)' },
  },
  async run(params, signal) {
    const p = params as unknown as Params;
    console.log(`sources: ${JSON.stringify(p)}; targets ${JSON.stringify(TARGETS)}`);
    const config = configFromEnv(process.env);
    const nc = await connect({ servers: config.natsServers, name: 'bench-sources' });
    try {
      const small = await measureNamespace(nc, p.baseline, p, signal, false);
      const big = await measureNamespace(nc, p.sources, p, signal, true);
      const perSource = (role: 'engine' | 'api') => round(((big.rssMiB[role] - small.rssMiB[role]) * 1024 * 1024) / (big.sources - small.sources));
      const rows: (string | number)[][] = [
        ['sources', small.sources, big.sources, ''],
        ['bulk write, s', small.writeSeconds, big.writeSeconds, ''],
        ['start to ready (mirror loaded), s', small.readySeconds, big.readySeconds, ''],
        ['RSS engine, MiB', small.rssMiB.engine, big.rssMiB.engine, `${perSource('engine')} B/source (target <= ${TARGETS.bytesPerSource})`],
        ['RSS api, MiB', small.rssMiB.api, big.rssMiB.api, `${perSource('api')} B/source (target <= ${TARGETS.bytesPerSource})`],
        ['overview, first, ms', small.overviewFirstMs, big.overviewFirstMs, 'waits for the first hot measurement'],
        ['overview, median, ms', small.overviewMs, big.overviewMs, `target < ${TARGETS.overviewMedianMs}`],
        ...Object.keys(big.listingMs).map((k) => [`listing ${k}, median ms`, small.listingMs[k]!, big.listingMs[k]!, k.startsWith('q=') ? 'a rare search walks every source' : `target < ${TARGETS.listingMedianMs}`]),
        [`check p50, ms (${p.rate}/s)`, small.check.p50, big.check.p50, `x${round(big.check.p50 / small.check.p50, 2)}`],
        [`check p99, ms (${p.rate}/s)`, small.check.p99, big.check.p99, `x${round(big.check.p99 / small.check.p99, 2)} (target <= ${TARGETS.checkP99Ratio})`],
      ];
      const c = big.changeCpu!;
      rows.push([`${p.changes} new sources, api CPU s: 0 / ${p.filters} filters`, c.filters0.api, c.filters.api, `x${round(c.filters.api / c.filters0.api, 2)} (target <= ${TARGETS.filterCpuRatio})`]);
      rows.push([`${p.changes} new sources, engine CPU s: 0 / ${p.filters} filters`, c.filters0.engine, c.filters.engine, `x${round(c.filters.engine / c.filters0.engine, 2)}`]);
      rows.push([`registering ${p.filters} filters, s`, '', c.registerSeconds, '']);
      console.log(table(['measure', 'baseline', 'big', 'ratio / target'], rows));
      mkdirSync('bench/results', { recursive: true });
      const file = `bench/results/sources-${new Date().toISOString().replaceAll(':', '-')}.json`;
      writeFileSync(file, JSON.stringify({ params: p, targets: TARGETS, small, big }, null, 2));
      console.log(`written ${file}`);
    } finally {
      await nc.close();
    }
  },
};
