import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { connect, headers as natsHeaders } from 'nats';
import { pino } from 'pino';
import { eventually, testConfig, testNamespace, cleanup } from './helpers.js';
import { createTierstream } from '../../runtime.js';
import { ensureStreams, ENGINE_DEFAULTS } from '../../engine/ingest/index.js';
import { natsNames } from '../../storage/nats/index.js';
import { generateEvents } from '../../scripts/generate.js';
import { withDeadline } from '../../core/index.js';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** An engine process; `ingesting` resolves once it logged "ingest started" (its SIGTERM handler is in place by then). */
function startEngineProcess(ns: string): ChildProcess & { ingesting: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'main.ts')], {
    cwd: root,
    env: { ...process.env, TIERSTREAM_NAMESPACE: ns, TIERSTREAM_ROLE: 'engine', TIERSTREAM_ACK_WAIT_MS: '2000', TIERSTREAM_BATCH_SIZE: '1000', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ingesting = new Promise<void>((resolve) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out = (out + c).slice(-10_000);
      if (out.includes('"ingest started"')) resolve();
    });
  });
  return Object.assign(child, { ingesting });
}

test('SIGKILL of the engine mid-stream loses nothing; SIGTERM drains and exits 0', async () => {
  const ns = testNamespace('r');
  const config = testConfig(ns);
  const nc = await connect({ servers: config.natsServers });
  const jsm = await nc.jetstreamManager();
  await ensureStreams(jsm, { namespace: ns, dedupWindowMs: ENGINE_DEFAULTS.dedupWindowMs, maxAgeMs: 3_600_000, ackWaitMs: 2_000, maxAckPending: 40_000 });
  const js = nc.jetstream();
  const names = natsNames(ns);
  const N = 30_000;
  const events = [...generateEvents({ count: N, campaigns: 4, users: 2_000, variants: 2, canvasShare: 0.2, seed: 3, idPrefix: 'rs' })];

  let child = startEngineProcess(ns);
  const publishing = (async () => {
    for (let i = 0; i < events.length; i += 1_000) {
      await Promise.all(events.slice(i, i + 1_000).map((e) => {
        const h = natsHeaders();
        h.set('Nats-Msg-Id', e.id);
        return js.publish(`${names.subjectPrefix}${e.type}`, JSON.stringify(e), { headers: h });
      }));
    }
  })();

  // Reads through a separate, API-only process view of the same namespace.
  const view = await createTierstream({ ...config, role: 'api' }, { log: pino({ level: 'silent' }) });
  const stored = async () => Number((await view.history.select<{ n: string }>(`SELECT uniqExact(id) AS n FROM ${ns}.events`))[0]?.n ?? 0);
  try {
    // Kill while ingest is under way, twice.
    for (let k = 0; k < 2; k++) {
      const target = (k + 1) * 8_000;
      await eventually(async () => (await stored()) >= target, `${target} stored before kill ${k}`, 60_000);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      child = startEngineProcess(ns);
    }
    // Bounded: a publish that never settles would otherwise hang the suite, not fail it.
    await withDeadline(publishing, 60_000, () => new Error('publishing did not finish within 60 s'));
    await eventually(async () => (await stored()) === N, `all ${N} events in history`, 60_000);
    // Redeliveries of what the killed processes held come back within the ack wait; once the
    // engine has caught up with them, a SIGTERM drain must leave nothing unacknowledged.
    await eventually(async () => {
      const i = await jsm.consumers.info(names.stream, names.consumer);
      return i.num_pending === 0 && i.num_ack_pending === 0;
    }, 'consumer caught up', 30_000);
    // Only now: a batch is written to history before Redis, and acknowledged after both, so
    // history can hold every event while the last hot writes (or a killed process's, redelivered
    // after the ack wait) are still to come. Every event acknowledged means every hot write done.
    const c0 = events.filter((e) => e.campaignId === 'c0');
    const users = new Set(c0.map((e) => e.userId)).size;
    assert.is(await view.hot.countUsers({ kind: 'campaign', id: 'c0' }), users);
    await withDeadline(child.ingesting, 30_000, () => new Error('the engine did not log "ingest started" within 30 s'));
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', r));
    assert.is(code, 0);
    const info = await jsm.consumers.info(names.stream, names.consumer);
    assert.is(info.num_ack_pending, 0);
    assert.is(info.num_pending, 0);
    assert.is(await stored(), N);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await nc.close();
    await cleanup(view, ns);
  }
});

test.run();
