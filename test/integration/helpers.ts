import { randomBytes } from 'node:crypto';
import { headers as natsHeaders, type JsMsg } from 'nats';
import { pino } from 'pino';
import { configFromEnv, type Config } from '../../config.js';
import { createTierstream, type Tierstream } from '../../runtime.js';
import { deleteStreams, type EngineOptions } from '../../engine/ingest/index.js';
import { bucketNames, kvStream, natsNames } from '../../storage/nats/index.js';
import type { EventType } from '../../core/index.js';
import type { TierManagerOptions } from '../../engine/tiers/index.js';
import { checkAnswers } from './answers.js';

/**
 * The ClickHouse endpoint of tests that need one server whatever the environment: the first
 * node when CLICKHOUSE_URL lists a cluster's nodes (scripts/clickhouse-cluster.sh exec).
 */
export function singleClickHouseUrl(): string {
  return testConfig('t').clickhouseUrl.split(',')[0]!;
}

/** A fresh namespace per test, as bullmq makes a queue per test. */
export function testNamespace(prefix = 't'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export function testConfig(namespace: string, env: NodeJS.ProcessEnv = {}): Config {
  return configFromEnv({ ...process.env, ...env, TIERSTREAM_NAMESPACE: namespace });
}

/** Engine options for tests: small batches, quick redelivery. */
export const TEST_ENGINE: Partial<EngineOptions> = { batchSize: 500, batchWaitMs: 20, ackWaitMs: 3_000, lagPollMs: 500 };

export interface Stack {
  ns: string;
  ts: Tierstream;
  publish(events: object[], opts?: { msgId?: (e: object, i: number) => string }): Promise<void>;
  publishRaw(subject: string, data: string | Uint8Array, msgId?: string): Promise<void>;
  dlq(): Promise<{ code: string; subject: string; data: string }[]>;
  stop(): Promise<void>;
}

/** Starts tierstream in-process on a fresh namespace (or the given one) with real services. */
export async function startStack(
  ns = testNamespace(),
  engine: Partial<EngineOptions> = {},
  env: NodeJS.ProcessEnv = { TIER_EXPIRE_AFTER: 'PT2S', TIER_SCAN_INTERVAL: 'PT0.2S' },
  tiers: Partial<TierManagerOptions> = {},
): Promise<Stack> {
  const ts = await createTierstream(testConfig(ns, env), {
    engine: { ...TEST_ENGINE, ...engine },
    tiers: { leaseMs: 3_000, restoreChunkRows: 500, ...tiers },
    log: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
  });
  // Every answer of the suite is checked against the OpenAPI document (answers.ts).
  checkAnswers(ts.app);
  await ts.engine!.start();
  ts.tiers.start();
  const js = ts.nc.jetstream();
  const names = natsNames(ns);
  return {
    ns,
    ts,
    async publish(events, opts = {}) {
      await Promise.all(
        events.map((e, i) => {
          const h = natsHeaders();
          h.set('Nats-Msg-Id', opts.msgId ? opts.msgId(e, i) : String((e as { id?: unknown }).id ?? `m${i}`));
          return js.publish(`${names.subjectPrefix}${String((e as { type?: unknown }).type ?? 'x')}`, JSON.stringify(e), { headers: h });
        }),
      );
    },
    async publishRaw(subject, data, msgId) {
      await js.publish(subject, data, msgId ? { msgID: msgId } : {});
    },
    async dlq() {
      const jsm = await ts.nc.jetstreamManager();
      const info = await jsm.streams.info(names.dlqStream).catch(() => undefined);
      const n = info?.state.messages ?? 0;
      if (n === 0) return [];
      const consumer = await js.consumers.get(names.dlqStream); // ordered, ephemeral
      const out: { code: string; subject: string; data: string }[] = [];
      const msgs = await consumer.fetch({ max_messages: n, expires: 2_000 });
      for await (const m of msgs as AsyncIterable<JsMsg>) {
        out.push({ code: m.headers?.get('Tierstream-Error') ?? '', subject: m.headers?.get('Tierstream-Subject') ?? '', data: m.string() });
        if (out.length >= n) break;
      }
      return out;
    },
    async stop() {
      await ts.engine?.drain();
      await cleanup(ts, ns);
    },
  };
}

/** Removes everything a namespace owns on the servers, then closes the connections. */
export async function cleanup(ts: Tierstream, ns: string): Promise<void> {
  const jsm = await ts.nc.jetstreamManager();
  await deleteStreams(jsm, ns);
  await ts.tiers.stop();
  await ts.registry.destroy().catch(() => false);
  await ts.filterStore.destroy().catch(() => false);
  await ts.sourceIds.destroy().catch(() => false);
  for (const b of [bucketNames(ns).ingest, bucketNames(ns).erasures]) await jsm.streams.delete(kvStream(b)).catch(() => false); // the ingest lease's and erasures' buckets
  await ts.history.dropDatabase();
  await ts.hot.unlinkNamespace();
  await ts.close();
}

/** Polls `fn` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${String(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function getJson(ts: Tierstream | Tierstream['app'], url: string): Promise<{ status: number; body: any }> {
  const res = await ('app' in ts ? ts.app : ts).inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json() };
}

export async function send(ts: Tierstream | Tierstream['app'], method: 'PUT' | 'PATCH' | 'POST' | 'DELETE', url: string, payload?: object): Promise<{ status: number; body: any }> {
  const app = 'app' in ts ? ts.app : ts;
  const res = await app.inject({ method, url, ...(payload && { payload }) });
  return { status: res.statusCode, body: res.body ? res.json() : undefined };
}

/** A hot snapshot as a plain object, for deep equality. */
export async function hotState(ts: Tierstream, source: { kind: 'campaign' | 'canvas'; id: string }) {
  const snap = await ts.hot.snapshot(source);
  return Object.fromEntries([...snap].map(([k, users]) => [k, Object.fromEntries([...users].sort(([a], [b]) => (a < b ? -1 : 1)))]));
}

/**
 * The fold of a source's whole raw history (`events`, not the `latest` aggregate restores
 * read), in the hot snapshot's shape: what the hot state must equal.
 */
export async function historyFold(ts: Tierstream, source: { kind: 'campaign' | 'canvas'; id: string }) {
  const { foldAggregates } = await import('../../core/fold.js');
  const { queries } = await import('../../storage/clickhouse/index.js');
  const raw = await ts.history.select<{ user_id: string; type: EventType; variant_id: string; step_id: string; time: string }>(
    `SELECT user_id, type, variant_id, step_id, time FROM ${ts.history.db}.events WHERE ${queries.sourceWhere(source)}`,
  );
  const fold = foldAggregates(source, raw.map((r) => ({ userId: r.user_id, type: r.type, variantId: r.variant_id, stepId: r.step_id, time: Number(r.time) })));
  return Object.fromEntries(
    [...fold.indexes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, users]) => [k, Object.fromEntries([...users].sort(([a], [b]) => (a < b ? -1 : 1)))]),
  );
}
