/** Latest time accepted: 2100-01-01T00:00:00Z. ClickHouse's DateTime ends in 2105. */
export const MAX_TIME_MS = 4_102_444_800_000;

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * Parses an event time: an ISO-8601 date-time with an offset (`Z` or `+hh:mm`), or epoch
 * milliseconds. Returns epoch milliseconds (fractions below a millisecond are truncated),
 * or undefined when the value is not a valid time in [1970, 2100).
 */
export function parseTime(value: unknown): number | undefined {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return undefined;
    ms = value;
  } else if (typeof value === 'string') {
    const m = ISO.exec(value);
    if (!m) return undefined;
    const [, y, mo, d, h, mi, s = '0', frac = '', off] = m as unknown as string[];
    const year = Number(y), month = Number(mo), day = Number(d);
    const hour = Number(h), minute = Number(mi), second = Number(s);
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
    if (hour > 23 || minute > 59 || second > 59) return undefined;
    let offsetMin = 0;
    if (off !== 'Z' && off !== 'z') {
      const sign = off![0] === '-' ? -1 : 1;
      const digits = off!.slice(1).replace(':', '');
      const oh = Number(digits.slice(0, 2)), om = Number(digits.slice(2) || '0');
      if (oh > 23 || om > 59) return undefined;
      offsetMin = sign * (oh * 60 + om);
    }
    const millis = Number(frac.padEnd(3, '0').slice(0, 3));
    ms = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMin * 60_000;
  } else {
    return undefined;
  }
  return ms >= 0 && ms < MAX_TIME_MS ? ms : undefined;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Epoch milliseconds as the contract prints times: ISO-8601 UTC with milliseconds. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString();
}
