import { pino, stdTimeFunctions, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

/** LOG_FORMAT: `pretty` (lines for people), `json` (one object a line, for collectors), `auto`. */
export type LogFormat = 'auto' | 'pretty' | 'json';

/**
 * The process's logger: JSON lines with ISO-8601 times for collectors, or, when `format` is
 * `pretty` or `auto` with standard output a terminal, readable lines (local time, level, module,
 * message, then the fields). Both go to standard output; `pretty` formats in this thread, which
 * costs CPU per line, so it is meant for terminals, not for production volumes.
 */
export function createLogger(opts: { level: string; format: LogFormat; base?: Record<string, unknown>; isTTY?: boolean; destination?: NodeJS.WritableStream }): Logger {
  const pretty = opts.format === 'pretty' || (opts.format === 'auto' && (opts.isTTY ?? process.stdout.isTTY === true));
  const options = { level: opts.level, base: opts.base ?? null, timestamp: stdTimeFunctions.isoTime };
  if (!pretty) return opts.destination ? pino(options, opts.destination) : pino(options);
  return pino(
    options,
    PinoPretty({
      colorize: opts.isTTY ?? process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,ns,module',
      messageFormat: '{if module}[{module}] {end}{msg}',
      singleLine: true,
      sync: true,
      ...(opts.destination && { destination: opts.destination }),
    }),
  );
}

/** A URL a person can open: a wildcard address is reached on the loopback one. */
export function urlOf(host: string, port: number, path: string): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}${path}`;
}

/** What an ingest summary reads: running totals (events acknowledged, dead letters by code) and the consumer's lag now. */
export interface IngestTotals {
  events: number;
  deadLetters: Record<string, number>;
  /** Messages not yet delivered plus those awaiting acknowledgement; undefined before the first poll. */
  lag: number | undefined;
}

/** How often an ingest process logs its summary (LOG_SUMMARY_INTERVAL, default one minute). */
export const INGEST_SUMMARY_MS = 60_000;

/**
 * The periodic ingest summary: every call to the returned function reads the totals and logs
 * one line with what happened since the previous call (events and their rate, dead letters by
 * code, the lag now). A quiet period (no event, no dead letter, no lag) logs nothing, so an idle
 * engine stays silent; the first call only takes the totals as its starting point.
 */
export function createIngestSummary(log: Logger, read: () => Promise<IngestTotals>, now: () => number = Date.now) {
  let last: { at: number; events: number; deadLetters: Record<string, number> } | undefined;
  return async (): Promise<void> => {
    const t = await read();
    const at = now();
    const prev = last;
    last = { at, events: t.events, deadLetters: { ...t.deadLetters } };
    if (!prev) return;
    const events = t.events - prev.events;
    const deadLetters: Record<string, number> = {};
    for (const [code, n] of Object.entries(t.deadLetters)) if (n > (prev.deadLetters[code] ?? 0)) deadLetters[code] = n - (prev.deadLetters[code] ?? 0);
    const lag = t.lag ?? 0;
    if (events === 0 && lag === 0 && Object.keys(deadLetters).length === 0) return;
    const seconds = Math.max(1, Math.round((at - prev.at) / 1000));
    const perSecond = Math.round(events / seconds);
    const letters = Object.entries(deadLetters).map(([code, n]) => `${n} ${code}`).join(', ');
    log.info(
      { events, perSecond, lag, deadLetters, seconds },
      `ingest: ${events} events in ${seconds} s (${perSecond}/s), lag ${lag} messages, dead letters: ${letters || 'none'}`,
    );
  };
}
