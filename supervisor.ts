import cluster, { type Worker } from 'node:cluster';
import { setPriority } from 'node:os';
import type { Logger } from 'pino';
import { clusterMetricsText } from './metrics.js';

/** How `npm start` (role `all`) splits tierstream into processes. */
export interface ProcessLayout {
  /** Ingest processes (role `engine`) sharing the durable consumer. */
  engines: number;
  /** API processes (role `api`) sharing the port. */
  apis: number;
  /** Niceness of the ingest processes (0..19): lookups get a core first on a saturated machine. */
  engineNice: number;
  /** Longest a SIGTERM drain of the children may take before they are killed. */
  graceMs: number;
}

type Role = 'engine' | 'api';

/**
 * Runs tierstream as separate OS processes under this one: ingest (role `engine`, lower CPU
 * priority) and the API (role `api`; several share the port, each accepting its own
 * connections). A child that exits on its own stops the whole: the others are drained and
 * this process exits 1, for the service manager to restart (a half-running tierstream, an API
 * with no ingest behind it, would look healthy while events pile up). SIGTERM and SIGINT are
 * passed to every child; this process exits 0 once all have drained.
 *
 * The children are cluster workers running the same entry point with `TIERSTREAM_ROLE` set,
 * the way this process runs (cluster.fork re-runs `process.argv[1]` with `process.execArgv`):
 * `node dist/main.js` forks compiled children (`npm start`), `tsx main.ts` children under tsx's
 * loader (`npm run dev`).
 * Resolves with the exit code.
 */
export function superviseProcesses(layout: ProcessLayout, log: Logger): Promise<number> {
  // Each API worker accepts on the shared socket itself: no hop through this process.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const roles = new Map<Worker, Role>();
  let stopping = false;
  let code = 0;

  const fork = (role: Role) => {
    const w = cluster.fork({ TIERSTREAM_ROLE: role });
    roles.set(w, role);
    w.on('online', () => {
      if (role === 'engine' && layout.engineNice > 0 && w.process.pid !== undefined) {
        try {
          setPriority(w.process.pid, layout.engineNice);
        } catch (err) {
          log.warn({ err, pid: w.process.pid }, 'could not lower the ingest process priority');
        }
      }
      log.info({ role, pid: w.process.pid }, 'process started');
    });
    return w;
  };

  return new Promise((resolve) => {
    const stopAll = (why: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ why }, 'stopping every process');
      for (const w of roles.keys()) w.process.kill('SIGTERM');
      setTimeout(() => {
        for (const w of roles.keys()) {
          log.error({ role: roles.get(w), pid: w.process.pid, graceMs: layout.graceMs }, 'did not drain in time; killed');
          w.process.kill('SIGKILL');
        }
      }, layout.graceMs).unref();
    };

    // A child serving /metrics asks here for every child's metrics, summed.
    cluster.on('message', (w, msg: { type?: string; id?: number }) => {
      if (msg?.type !== METRICS_REQUEST) return;
      clusterMetricsText().then(
        (text) => w.send({ type: METRICS_REPLY, id: msg.id, text }),
        (err: Error) => w.send({ type: METRICS_REPLY, id: msg.id, error: err.message }),
      );
    });

    cluster.on('exit', (w, exitCode, signal) => {
      const role = roles.get(w);
      roles.delete(w);
      if (!stopping) {
        log.error({ role, pid: w.process.pid, exitCode, signal }, 'a process exited on its own; stopping tierstream');
        code = 1;
        stopAll(`${role} process exited`);
      } else if (exitCode !== 0 && signal !== 'SIGTERM') {
        // Killed by our SIGTERM means it had not installed its handler yet: nothing was running.
        code = 1;
      }
      log.info({ role, pid: w.process.pid, exitCode, signal }, 'process exited');
      if (roles.size === 0) resolve(code);
    });
    process.on('SIGTERM', () => stopAll('SIGTERM'));
    process.on('SIGINT', () => stopAll('SIGINT'));

    for (let i = 0; i < layout.engines; i++) fork('engine');
    for (let i = 0; i < layout.apis; i++) fork('api');
  });
}

/** Whether this process is a child of superviseProcesses. */
export const isSupervised = (): boolean => cluster.isWorker;

const METRICS_REQUEST = 'tierstream:metrics?';
const METRICS_REPLY = 'tierstream:metrics';
let nextId = 0;

/**
 * In a child: the Prometheus text of every process of this tierstream, from the supervisor
 * (each child's registry must be shared with `shareRegistry`). Rejects after `timeoutMs`.
 */
export function supervisedMetrics(timeoutMs = 5_000): Promise<string> {
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    const onMessage = (msg: { type?: string; id?: number; text?: string; error?: string }) => {
      if (msg?.type !== METRICS_REPLY || msg.id !== id) return;
      done();
      if (msg.error !== undefined) reject(new Error(`metrics from the supervisor: ${msg.error}`));
      else resolve(msg.text ?? '');
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no metrics from the supervisor within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    process.on('message', onMessage);
    process.send!({ type: METRICS_REQUEST, id });
  });
}
