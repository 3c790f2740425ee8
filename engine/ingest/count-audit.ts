import type { Logger } from 'pino';
import type { CountAuditor } from '../../core/index.js';

export interface CountAuditOptions {
  /** Time between audits, ms (default COUNT_AUDIT_INTERVAL_MS). */
  intervalMs?: number;
  /** Sources audited at most per audit (default 100). */
  limit?: number;
}

/** How often the maintained history counts are audited: rarely, they drift only after a race (docs/design.md, "History counts"). */
export const COUNT_AUDIT_INTERVAL_MS = 10 * 60_000;

/**
 * Audits the maintained history counts now and then, in every ingest process: each audit
 * recounts the sources whose count moved since their last audit (History.auditCounts), not
 * while an erasure is unfinished (`busy`). Audits of two processes are harmless (an audit
 * replaces a source's correction); the first runs after a random part of the interval, so
 * processes started together do not audit together.
 */
export function startCountAudit(deps: { history: CountAuditor; busy: () => boolean; log: Logger }, opts: CountAuditOptions = {}): { stop(): Promise<void> } {
  const log = deps.log.child({ module: 'ingest.count-audit' });
  const interval = opts.intervalMs ?? COUNT_AUDIT_INTERVAL_MS;
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (stopped) return;
    running = (async () => {
      try {
        const r = await deps.history.auditCounts({ limit: opts.limit ?? 100, busy: deps.busy });
        if (r.corrected) log.warn(r, 'history counts corrected by an audit (a write raced another)');
        else if (r.audited || r.deferred) log.debug(r, 'history counts audited');
      } catch (err) {
        log.warn({ err }, 'history counts not audited; tried again later');
      }
    })().finally(() => {
      running = undefined;
      if (!stopped) (timer = setTimeout(tick, interval)).unref();
    });
  };
  (timer = setTimeout(tick, Math.random() * interval)).unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
