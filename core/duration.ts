/** ISO-8601 durations: parsed at the edges, applied by the UTC calendar. */
import { TierstreamError } from './errors.js';

/** The ISO-8601 durations parseDuration reads, as JSON Schema patterns say them (filter `within`). */
export const DURATION_PATTERN = '^P(?!$)(?:(\\d+)Y)?(?:(\\d+)M)?(?:(\\d+)W)?(?:(\\d+)D)?(?:T(?!$)(?:(\\d+)H)?(?:(\\d+)M)?(?:(\\d+(?:\\.\\d+)?)S)?)?$';
const DURATION = new RegExp(DURATION_PATTERN);

/** An ISO-8601 duration's parts; months and years stay calendar units (P3M from 30 Nov is 28/29 Feb). */
export interface Duration {
  years: number; months: number; weeks: number; days: number; hours: number; minutes: number; seconds: number;
}

export function parseDuration(text: string): Duration | undefined {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const n = (i: number) => Number(m[i] ?? 0);
  return { years: n(1), months: n(2), weeks: n(3), days: n(4), hours: n(5), minutes: n(6), seconds: n(7) };
}

/** `t + d` in epoch ms, months and years by the UTC calendar, clamped to the month's last day. */
export function addDuration(t: number, d: Duration): number {
  const date = new Date(t);
  const months = d.years * 12 + d.months;
  if (months) {
    const day = date.getUTCDate();
    date.setUTCDate(1);
    date.setUTCMonth(date.getUTCMonth() + months);
    const last = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
    date.setUTCDate(Math.min(day, last));
  }
  const fixed = (((d.weeks * 7 + d.days) * 24 + d.hours) * 60 + d.minutes) * 60_000 + Math.round(d.seconds * 1000);
  return date.getTime() + fixed;
}

export class DurationError extends TierstreamError<'invalid_duration'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_duration', message, options);
  }
}

/** Duration without calendar units, in ms. Throws DurationError for months or years, or bad text. */
export function fixedDurationMs(text: string): number {
  const d = parseDuration(text);
  if (!d) throw new DurationError(`"${text}" is not an ISO-8601 duration (e.g. PT1M)`);
  if (d.years || d.months) throw new DurationError('use days or smaller units, not months or years');
  return addDuration(0, d);
}
