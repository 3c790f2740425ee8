/**
 * The composition root's telemetry: core's Metrics port implemented with prom-client, the
 * supervisor's aggregation of its children's registries, and /metrics on a listen address of
 * its own. Only the root imports it; services and the API see the port (core/metrics.ts).
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './core/index.js';

/**
 * core's Metrics port with prom-client, in a registry of its own (several engines can share a
 * process in tests); `registry` is for the root (the supervisor's aggregation).
 */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'tierstream_' });
  return {
    registry,
    text: () => registry.metrics(),
    contentType: registry.contentType as string,
    eventsIngested: new Counter({
      name: 'tierstream_events_ingested_total',
      help: 'Valid events acknowledged: durable in history, and in the hot index when their source is hot',
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'tierstream_dead_letters_total',
      help: 'Messages sent to the dead-letter subject, by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'tierstream_batch_write_seconds',
      help: 'Time from a batch closing to it being durable and acknowledged',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'tierstream_batch_size',
      help: 'Messages per batch',
      buckets: [1, 10, 100, 500, 1000, 2000, 5000, 10000],
      registers: [registry],
    }),
    writeFailures: new Counter({
      name: 'tierstream_batch_write_failures_total',
      help: 'Failed batch write attempts (each is retried)',
      registers: [registry],
    }),
    redeliveries: new Counter({
      name: 'tierstream_redeliveries_total',
      help: 'Messages JetStream delivered again (not settled in time by an earlier delivery, or an engine restarted)',
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: 'tierstream_consumer_lag_messages',
      help: 'Messages in the stream not yet delivered to the engine consumer, plus those awaiting ack',
      labelNames: ['state'] as const,
      // Every ingest process reads the one durable consumer's lag: across processes, the max.
      aggregator: 'max',
      registers: [registry],
    }),
    streamBytes: new Gauge({
      name: 'tierstream_events_stream_bytes',
      help: 'Bytes the events stream holds (bound="used") and its max_bytes (bound="max", -1: unbounded); at max, publishes are refused',
      labelNames: ['bound'] as const,
      aggregator: 'max',
      registers: [registry],
    }),
    streamFill: new Gauge({
      name: 'tierstream_events_stream_fill_ratio',
      help: 'How full the events stream is against its bound (TIERSTREAM_EVENTS_MAX_BYTES), 0..1; at 1 publishes are refused (stream_full); ingest trims events it acknowledged above 0.9',
      aggregator: 'max',
      registers: [registry],
    }),
    trimmed: new Counter({
      name: 'tierstream_events_trimmed_total',
      help: 'Messages ingest removed from the full events stream after acknowledging them (in history already), to keep room for new ones',
      registers: [registry],
    }),
    inflight: new Gauge({
      name: 'tierstream_inflight_messages',
      help: 'Messages taken from NATS and not yet settled',
      registers: [registry],
    }),
    tierTransitions: new Counter({
      name: 'tierstream_tier_transitions_total',
      help: 'Tier transitions by target tier',
      labelNames: ['tier'] as const,
      registers: [registry],
    }),
    restoreSeconds: new Histogram({
      name: 'tierstream_restore_seconds',
      help: 'Duration of restores, from claim to hot',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    demoteSeconds: new Histogram({
      name: 'tierstream_demote_seconds',
      help: 'Duration of demotions, from claim to expired',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    hotRebuilds: new Counter({
      name: 'tierstream_hot_rebuilds_total',
      help: 'Rebuilds of the whole hot tier after Redis lost the namespace (run by this process)',
      registers: [registry],
    }),
    httpRequests: new Histogram({
      name: 'tierstream_http_request_seconds',
      help: 'API request durations by route and status (its _count is the request count)',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    lookupPressure: new Counter({
      name: 'tierstream_lookup_pressure_signals_total',
      help: 'Signals heard that lookups took longer than TIERSTREAM_LOOKUP_TARGET_MS (background hot writes then yield Redis)',
      registers: [registry],
    }),
    hotSources: new Gauge({
      name: 'tierstream_hot_sources',
      help: 'Sources whose tier is hot, as of the last tier scan',
      aggregator: 'max',
      registers: [registry],
    }),
  } satisfies Metrics & { registry: Registry };
}

export type PromMetrics = ReturnType<typeof createMetrics>;

/**
 * Prometheus text of every process of a supervised tierstream, summed (gauges of shared
 * state take the max): asked of the supervisor, which gathers each child's registry with
 * prom-client's AggregatorRegistry. Call `shareRegistry` in every child first.
 */
export function shareRegistry(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one is what makes a child answer the supervisor's requests.
  aggregator ??= new AggregatorRegistry();
}

/** In the supervisor: the children's metrics, aggregated. */
export function clusterMetricsText(): Promise<string> {
  aggregator ??= new AggregatorRegistry();
  return aggregator.clusterMetrics();
}

let aggregator: AggregatorRegistry<typeof Registry.PROMETHEUS_CONTENT_TYPE> | undefined;
export const METRICS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

/** `host:port`, `[v6]:port`; a TypeError saying what is wrong. */
export function parseListen(spec: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535) throw new TypeError(`"${spec}" is not host:port (an IPv6 host in brackets: [::1]:9464)`);
  return { host: (m[1] ?? m[2])!, port };
}

export interface MetricsServer {
  /** Where it listens (the port chosen when 0 was asked). */
  address: AddressInfo;
  close(): Promise<void>;
}

/**
 * `/metrics` on a listen address of its own (TIERSTREAM_METRICS_LISTEN): a bare node:http
 * server, so a scraper needs no API key and never reaches the API's routes, and a process of
 * the engine role (no Fastify) serves it too. GET or HEAD /metrics only; headers and body must
 * arrive within 10 s.
 */
export async function serveMetrics(opts: { host: string; port: number; text: () => Promise<string>; contentType: string; onError?: (err: unknown) => void }): Promise<MetricsServer> {
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: only /metrics is served here\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    opts.text().then(
      (body) => res.writeHead(200, { 'content-type': opts.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => {
        opts.onError?.(err);
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('metrics not available\n');
      },
    );
  };
  const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
