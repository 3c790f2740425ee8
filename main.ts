/**
 * Process entry point: reads the environment, wires tierstream, listens, and drains on
 * SIGTERM/SIGINT (in-flight batches are finished and acknowledged, then exit 0).
 */
import { configFromEnv, isLoopback, ConfigError } from './config.js';
import { createTierstream } from './runtime.js';

/** Longest a SIGTERM drain may take before the process exits anyway. */
const DRAIN_GRACE_MS = 25_000;

async function main(): Promise<void> {
  const config = configFromEnv();
  if (!config.apiKeys && !isLoopback(config.host) && config.role !== 'engine') {
    throw new ConfigError(`HOST=${config.host} is not loopback and TIERSTREAM_API_KEYS is unset: refusing to serve an API without auth`);
  }
  const ts = await createTierstream(config, { defaultMetrics: true });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    ts.log.info({ signal }, 'draining');
    // A batch whose store stays down retries for ever; its messages are not acked, so the
    // server redelivers them to the next engine: exiting after a grace period loses nothing.
    setTimeout(() => {
      ts.log.error({ graceMs: DRAIN_GRACE_MS }, 'drain did not finish in time; exiting with batches unacknowledged');
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

  if (ts.engine) {
    await ts.engine.start();
    ts.tiers.start();
    ts.engine.done.catch((err) => {
      ts.log.fatal({ err }, 'ingest pipeline failed');
      process.exit(1);
    });
  }
  if (config.role !== 'engine') await ts.app.listen({ host: config.host, port: config.port });
  ts.log.info({ role: config.role, host: config.host, port: config.port }, 'tierstream started');
}

main().catch((err) => {
  const message = err instanceof ConfigError ? err.message : (err as Error).stack ?? String(err);
  process.stderr.write(`tierstream: ${message}\n`);
  process.exit(1);
});
