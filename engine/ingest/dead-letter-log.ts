import type { Logger } from 'pino';

/** Shortest time between two log lines of one dead-letter code, ms (docs/producing.md, "Dead letters"). */
export const DEAD_LETTER_LOG_PERIOD_MS = 5_000;

/**
 * A warning per dead-letter code at most every `periodMs`: the first letter of a code is logged
 * at once (with its subject and reason), the ones after it within the period are counted and
 * told in the next line of that code (`count`: letters since the last line, this one included).
 * A flood of bad messages costs a line per code every few seconds, not one per message.
 */
export function createDeadLetterLog(log: Logger, periodMs = DEAD_LETTER_LOG_PERIOD_MS, now: () => number = Date.now) {
  const codes = new Map<string, { at: number; count: number }>();
  return (code: string, subject: string, reason: string): void => {
    const t = now();
    let c = codes.get(code);
    if (!c) codes.set(code, (c = { at: -Infinity, count: 0 }));
    c.count++;
    if (t - c.at < periodMs) return;
    log.warn({ code, count: c.count, subject, reason }, `dead letters: ${c.count} ${code} since the last line of this code (the latest: ${reason})`);
    c.at = t;
    c.count = 0;
  };
}
