/**
 * Ingest and the API in one process (as `main.ts` ran them before the process split), with a fault hook: `TIERSTREAM_FAULT=<point>:<n>` makes the
 * process SIGKILL itself right after the n-th successful store call at that point, before
 * anything after it runs:
 *
 * - `after-history:n`: a batch is durable in ClickHouse; its hot write and its ack never happen.
 * - `after-hot:n`: a batch is in ClickHouse and Redis; its ack never happens.
 * - `mid-restore:n`: a restore has loaded its n-th chunk into Redis; it never finishes here.
 *
 * (The engine writes history strictly before the hot index, so "hot written, history not"
 * cannot happen by design; `after-history` is the kill between the two writes.)
 */
import { pino } from 'pino';
import { configFromEnv } from '../../config.js';
import { createTierstream } from '../../runtime.js';

const [point, nth] = (process.env.TIERSTREAM_FAULT ?? '').split(':');
const config = configFromEnv();
const ts = await createTierstream(config, { defaultMetrics: true, log: pino({ level: config.logLevel }) });

const killAfter = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => {
  let calls = 0;
  return async (...args: A): Promise<R> => {
    const r = await fn(...args);
    if (++calls === Number(nth)) process.kill(process.pid, 'SIGKILL');
    return r;
  };
};
if (point === 'after-history') ts.history.insert = killAfter(ts.history.insert.bind(ts.history));
else if (point === 'after-hot') ts.hot.apply = killAfter(ts.hot.apply.bind(ts.hot));
else if (point === 'mid-restore') {
  // Restores open the source's tier gate as `restoring`, then load chunks.
  let restoring = false;
  const setGate = ts.hot.setGate.bind(ts.hot);
  ts.hot.setGate = async (source, gate) => {
    await setGate(source, gate);
    if (gate === 'restoring') restoring = true;
  };
  const load = killAfter(ts.hot.load.bind(ts.hot));
  const plain = ts.hot.load.bind(ts.hot);
  ts.hot.load = (fold, opts) => (restoring ? load(fold, opts) : plain(fold, opts));
} else if (point) throw new Error(`unknown TIERSTREAM_FAULT point ${point}`);

await ts.engine!.start();
ts.tiers.start();
await ts.app.listen({ host: config.host, port: config.port });
// SIGTERM drains as main.ts does: batches finished and acknowledged, then exit 0.
process.once('SIGTERM', () => void ts.close().then(() => process.exit(0), () => process.exit(1)));
