/**
 * The metrics port: what services and the API record, by name, without knowing Prometheus.
 * The composition root implements it with prom-client (metrics.ts); a test may pass any object
 * of this shape.
 */

/** Label values by label name. */
export type MetricLabels<L extends string> = Partial<Record<L, string | number>>;

export interface CounterMetric<L extends string = never> {
  inc(value?: number): void;
  inc(labels: MetricLabels<L>, value?: number): void;
}

export interface GaugeMetric<L extends string = never> {
  set(value: number): void;
  set(labels: MetricLabels<L>, value: number): void;
}

export interface HistogramMetric<L extends string = never> {
  observe(value: number): void;
  observe(labels: MetricLabels<L>, value: number): void;
}

/** Every metric tierstream records (their names and help: metrics.ts at the root, docs/operating.md, "Metrics and Grafana"). */
export interface Metrics {
  /** Valid events acknowledged. */
  eventsIngested: CounterMetric;
  /** Messages dead-lettered, by error code. */
  deadLetters: CounterMetric<'code'>;
  /** Seconds from a batch closing to it being durable and acknowledged. */
  batchSeconds: HistogramMetric;
  /** Messages per batch. */
  batchSize: HistogramMetric;
  /** Failed batch write attempts (each is retried). */
  writeFailures: CounterMetric;
  /** Messages JetStream delivered again. */
  redeliveries: CounterMetric;
  /** The consumer's lag, by state (`pending`, `ack_pending`). */
  consumerLag: GaugeMetric<'state'>;
  /** Bytes the events stream holds (`used`) and its bound (`max`). */
  streamBytes: GaugeMetric<'bound'>;
  /** How full the events stream is against its bound, 0..1. */
  streamFill: GaugeMetric;
  /** Messages ingest removed from the full events stream after acknowledging them. */
  trimmed: CounterMetric;
  /** Messages taken from NATS and not yet settled. */
  inflight: GaugeMetric;
  /** Tier transitions, by target tier. */
  tierTransitions: CounterMetric<'tier'>;
  /** Seconds of restores, from claim to hot. */
  restoreSeconds: HistogramMetric;
  /** Seconds of demotions, from claim to expired. */
  demoteSeconds: HistogramMetric;
  /** Rebuilds of the whole hot tier run by this process. */
  hotRebuilds: CounterMetric;
  /** API request seconds, by method, route and status. */
  httpRequests: HistogramMetric<'method' | 'route' | 'status'>;
  /** Lookup pressure signals heard. */
  lookupPressure: CounterMetric;
  /** Sources whose tier is hot, as of the last tier scan. */
  hotSources: GaugeMetric;
  /** This process's metrics in the exposition format, for /metrics. */
  text(): Promise<string>;
  /** The exposition format's content type. */
  readonly contentType: string;
}

/**
 * How long one gathering of /metrics answers requests, ms. Gathering cost about 30 ms of CPU
 * (every process's registry, aggregated): 300 requests in 7 s took 1.3 of 2 cores. Prometheus
 * scrapes every 15 s or so; a second-old answer loses nothing.
 */
export const METRICS_CACHE_MS = 1_000;

/**
 * `gather` called at most once per `ms`: requests meanwhile, and while it gathers, share its
 * text; a failure is not kept.
 */
export function cachedGathering(gather: () => Promise<string>, ms = METRICS_CACHE_MS): () => Promise<string> {
  let gathered: { text: Promise<string>; at: number } | undefined;
  return () => {
    const now = performance.now();
    if (!gathered || now - gathered.at >= ms) {
      const text = gather();
      gathered = { text, at: now };
      text.catch(() => {
        if (gathered?.text === text) gathered = undefined;
      });
    }
    return gathered.text;
  };
}
