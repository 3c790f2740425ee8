/**
 * What every benchmark does around its measurements: wait on progress, remove the throwaway
 * namespace, describe the machine and the code measured, write the JSON result.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { headers as natsHeaders, type JetStreamManager, type NatsConnection } from 'nats';
import { Cluster, type Redis } from 'ioredis';
import { deleteStreams } from '../engine/ingest/index.js';
import { kvStream, NatsKvRegistry, type ClickHouseHistory } from '../storage/index.js';
import { MiB, round } from './measure.js';

/** Longest a wait may see no progress before the benchmark gives up. */
export const STALL_MS = 60_000;

/** The connections of a benchmark's own namespace (not the tierstream instance it measures). */
export interface BenchNamespace {
  ns: string;
  nc: NatsConnection;
  jsm: JetStreamManager;
  history: ClickHouseHistory;
  redis: Redis | Cluster;
  signal: AbortSignal;
}

export const masters = (ctx: Pick<BenchNamespace, 'redis'>): Redis[] =>
  ctx.redis instanceof Cluster ? ctx.redis.nodes('master') : [ctx.redis];

/**
 * Polls `check` every `everyMs` until it says done. Fails when progress stands still for
 * STALL_MS or the run is interrupted.
 */
export async function until(
  ctx: Pick<BenchNamespace, 'signal'>, what: string, everyMs: number, check: () => Promise<{ done: boolean; progress: number }>,
): Promise<void> {
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    ctx.signal.throwIfAborted();
    const { done, progress } = await check();
    if (done) return;
    if (progress !== last) (last = progress), (lastChange = performance.now());
    else if (performance.now() - lastChange > STALL_MS) throw new Error(`${what}: no progress for ${STALL_MS / 1000} s (at ${progress})`);
    await sleep(everyMs);
  }
}

/**
 * Deletes every KV bucket `<ns>_*`: the registry's `<ns>_sources` by its own destroy(), and
 * whatever other buckets tierstream opens (e.g. `<ns>_filters`) by their backing streams.
 */
export async function destroyKvBuckets(ctx: BenchNamespace): Promise<void> {
  await (await NatsKvRegistry.open(ctx.nc.jetstream(), ctx.ns)).destroy();
  const prefix = kvStream(`${ctx.ns}_`);
  for await (const name of ctx.jsm.streams.names()) {
    if (name.startsWith(prefix)) await ctx.jsm.streams.delete(name);
  }
}

/** Counts (and with `unlink`, removes) the namespace's Redis keys, by SCAN on every master. */
export async function redisKeys(ctx: BenchNamespace, unlink: boolean): Promise<number> {
  let n = 0;
  for (const node of masters(ctx)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${ctx.ns}:*`, 'COUNT', 1_000);
      cursor = next;
      n += keys.length;
      // Keys of one SCAN page may sit in different cluster slots: unlink them one by one there.
      if (unlink && keys.length) await (ctx.redis instanceof Cluster ? Promise.all(keys.map((k) => node.unlink(k))) : node.unlink(...keys));
    } while (cursor !== '0');
  }
  return n;
}

/**
 * Removes everything the namespace owns, after `first` steps of the caller's own; reports, but
 * does not throw, what it could not remove; then closes the connections.
 */
export async function cleanupNamespace(ctx: BenchNamespace, first: [string, () => Promise<unknown>][] = []): Promise<void> {
  const steps: [string, () => Promise<unknown>][] = [
    ...first,
    ['NATS streams', () => deleteStreams(ctx.jsm, ctx.ns)],
    [`KV buckets ${ctx.ns}_*`, () => destroyKvBuckets(ctx)],
    [`ClickHouse database ${ctx.ns}`, () => ctx.history.dropDatabase()],
    [`Redis keys ${ctx.ns}:*`, () => redisKeys(ctx, true)],
  ];
  for (const [what, step] of steps) {
    try {
      await step();
    } catch (err) {
      console.error(`bench: cleanup of ${what} failed: ${(err as Error).message}`);
    }
  }
  await ctx.nc.drain().catch(() => undefined);
  ctx.redis.disconnect();
  await ctx.history.close();
  console.log(`cleaned up namespace ${ctx.ns}`);
}

export async function machineInfo(ctx: BenchNamespace, loadAtStart: number[]) {
  const cpus = os.cpus();
  const version = async (f: () => Promise<string | undefined>) => f().catch(() => undefined);
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model,
    totalMemoryMiB: Math.round(os.totalmem() / MiB),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    /** 1, 5 and 15 minute load averages when the benchmark started: high means it shared the machine. */
    loadAverage: loadAtStart.map((x) => round(x, 2)),
    node: process.version,
    code: codeVersion(),
    nats: ctx.nc.info?.version,
    clickhouse: await version(async () => (await ctx.history.select<{ v: string }>('SELECT version() AS v'))[0]?.v),
    redis: await version(async () => /redis_version:(\S+)/.exec((await masters(ctx)[0]?.info('server')) ?? '')?.[1]),
  };
}

/** The commit measured, and whether the working tree differed from it (others edit while we run). */
export function codeVersion(): { commit: string; dirty: boolean } | undefined {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: new URL('..', import.meta.url), encoding: 'utf8' }).trim();
    return { commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain', '--untracked-files=no').length > 0 };
  } catch {
    return undefined;
  }
}

/** Writes bench/results/<name>-<ISO time>.json (through a .tmp file, so no half-written result stays). */
export function writeResult(name: string, startedAt: Date, result: unknown): string {
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  // Colons are not allowed in file names everywhere; the rest is ISO 8601.
  const file = new URL(`${name}-${startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}.json`, dir);
  const tmp = new URL(`${file.pathname.split('/').pop()}.tmp`, dir);
  writeFileSync(tmp, `${JSON.stringify(result, null, 2)}\n`);
  renameSync(tmp, file);
  return file.pathname;
}

/** Core publishes between flushes while pre-filling a stream: the only backpressure core NATS has. */
export const PREFILL_FLUSH_EVERY = 4_000;

/**
 * Publishes events to `<prefix><type>` by core NATS (JetStream publish-with-ack is far too
 * slow to pre-fill here), each with its id as `Nats-Msg-Id`, flushing every
 * PREFILL_FLUSH_EVERY; `map` may rewrite an event first. Returns the number published.
 */
export async function corePublish<E extends { id: string; type: string }>(nc: NatsConnection, subjectPrefix: string, events: Iterable<E>, signal: AbortSignal, map?: (e: E) => void): Promise<number> {
  let n = 0;
  for (const e of events) {
    map?.(e);
    const h = natsHeaders();
    h.set('Nats-Msg-Id', e.id);
    nc.publish(`${subjectPrefix}${e.type}`, JSON.stringify(e), { headers: h });
    if (++n % PREFILL_FLUSH_EVERY === 0) {
      await nc.flush();
      signal.throwIfAborted();
    }
  }
  await nc.flush();
  return n;
}
