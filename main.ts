/**
 * Process entry point: reads the environment, wires tierstream, listens, and drains on
 * SIGTERM/SIGINT (in-flight batches are finished and acknowledged, then exit 0). Role `all`
 * (the default) runs ingest and the API as separate child processes of this one (see
 * supervisor.ts); roles `engine` and `api` run one of them here.
 */
import { createIngestSummary, createLogger, urlOf, type IngestTotals } from './logging.js';
import { configFromEnv, isLoopback, ConfigError } from './config.js';
import type { Tierstream } from './runtime.js';
import type { PromMetrics } from './metrics.js';
import { isSupervised, superviseProcesses, supervisedMetrics } from './supervisor.js';
import { shareRegistry } from './metrics.js';

/** Longest a SIGTERM drain may take before the process exits anyway. */
const DRAIN_GRACE_MS = 25_000;

async function main(): Promise<void> {
  const config = configFromEnv();
  if (!config.apiKeys && !isLoopback(config.host) && config.role !== 'engine') {
    throw new ConfigError(`HOST=${config.host} is not loopback and TIERSTREAM_API_KEYS is unset: refusing to serve an API without auth`);
  }
  if (config.role === 'all' && !isSupervised()) {
    const log = createLogger({ level: config.logLevel, format: config.logFormat, base: { ns: config.namespace, module: 'supervisor' } });
    const code = await superviseProcesses(
      { engines: config.engineProcesses, apis: config.apiProcesses, engineNice: config.engineNice, graceMs: DRAIN_GRACE_MS + 5_000 },
      log,
    );
    process.exit(code);
  }
  // Handlers first: a SIGTERM that arrives while the process starts still drains it.
  let stopping: string | undefined;
  let ts: Tierstream | undefined;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = signal;
    if (!ts) return; // started below, then stopped at once
    ts.log.info({ signal }, 'draining');
    // A batch whose store stays down retries for ever; its messages are not acked, so the
    // server redelivers them to the next engine: exiting after a grace period loses nothing.
    setTimeout(() => {
      ts!.log.error({ graceMs: DRAIN_GRACE_MS }, 'drain did not finish in time; exiting with batches unacknowledged');
      process.exit(1);
    }, DRAIN_GRACE_MS).unref();
    try {
      await ts.close();
      process.exit(0);
    } catch (err) {
      ts.log.error({ err }, 'drain failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // A child whose supervisor is gone drains and exits rather than run on unwatched.
  if (isSupervised()) process.on('disconnect', () => void stop('supervisor gone'));

  // Loaded here, not at the top: the supervisor of role `all` never wires tierstream, and
  // loading every client, RxJS and the stores' code before it forks cost it about 30 MiB and
  // its children's start that long.
  const { createTierstream } = await import('./runtime.js');
  ts = await createTierstream(config, { defaultMetrics: true, ...(isSupervised() && { metricsText: () => supervisedMetrics() }) });
  if (isSupervised()) shareRegistry(ts.metrics.registry);
  if (stopping) {
    const signal = stopping;
    stopping = undefined;
    return stop(signal);
  }
  if (ts.engine) {
    await ts.engine.start();
    ts.tiers.start();
    if (config.logSummaryMs > 0) {
      const summary = createIngestSummary(ts.log.child({ module: 'ingest' }), () => ingestTotals(ts!.metrics));
      setInterval(() => void summary().catch((err) => ts!.log.debug({ err }, 'ingest summary not read')), config.logSummaryMs).unref();
      void summary().catch(() => undefined);
    }
    ts.engine.done.catch((err) => {
      ts.log.fatal({ err }, 'ingest pipeline failed');
      process.exit(1);
    });
  }
  if (config.role !== 'engine') await ts.app.listen({ host: config.host, port: config.port });
  // /metrics on its own address: served by API processes (under the supervisor they share it,
  // as they share the API port, and each answers for every process) and by an engine run
  // alone; an engine under the supervisor is counted by the API processes' answer.
  const metricsAt = config.role === 'engine' && isSupervised() ? undefined : await ts.listenMetrics();
  if (config.role === 'engine') {
    ts.log.info({ role: config.role, ...(metricsAt && { metrics: urlOf(metricsAt.address, metricsAt.port, '/metrics') }) }, 'tierstream ingest started');
    return;
  }
  const at = ts.app.server.address();
  const port = at !== null && typeof at === 'object' ? at.port : config.port;
  const urls = {
    console: urlOf(config.host, port, '/'),
    docs: urlOf(config.host, port, '/docs'),
    metrics: metricsAt ? urlOf(metricsAt.address, metricsAt.port, '/metrics') : urlOf(config.host, port, '/metrics'),
  };
  ts.log.info({ role: config.role, ...urls }, `tierstream started: console ${urls.console}, API docs ${urls.docs}, metrics ${urls.metrics}`);
}

/** This process's ingest totals, from its metrics. */
async function ingestTotals(m: PromMetrics): Promise<IngestTotals> {
  const [events, letters, lag] = await Promise.all([m.eventsIngested.get(), m.deadLetters.get(), m.consumerLag.get()]);
  const deadLetters: Record<string, number> = {};
  for (const v of letters.values) deadLetters[String(v.labels.code)] = v.value;
  return { events: events.values[0]?.value ?? 0, deadLetters, lag: lag.values.length ? lag.values.reduce((a, v) => a + v.value, 0) : undefined };
}

main().catch((err) => {
  const message = err instanceof ConfigError ? err.message : (err as Error).stack ?? String(err);
  process.stderr.write(`tierstream: ${message}\n`);
  process.exit(1);
});
