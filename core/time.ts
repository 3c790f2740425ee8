/** Latest time accepted: 2100-01-01T00:00:00Z. ClickHouse's DateTime ends in 2105. */
export const MAX_TIME_MS = 4_102_444_800_000;

/**
 * Years a written time may name, whatever its offset (the instant must also be in
 * [1970, 2100) UTC). Checked before Date.UTC, which reads years 0-99 as 1900-1999: without
 * it `0070-01-01T00:00:00Z` was read as 1970.
 */
const MIN_YEAR = 1970;
const MAX_YEAR = 2099;

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * Parses an event time: an ISO-8601 date-time with an offset (`Z` or `+hh:mm`), or epoch
 * milliseconds. Returns epoch milliseconds (fractions below a millisecond are truncated),
 * or undefined when the value is not a valid time in [1970, 2100) (a written year 1970-2099). Strings are read by char
 * codes (isoTime below): it runs once per ingested event.
 */
export function parseTime(value: unknown): number | undefined {
  if (typeof value === 'string') return isoTime(value);
  if (typeof value !== 'number' || !Number.isInteger(value)) return undefined;
  return value >= 0 && value < MAX_TIME_MS ? value : undefined;
}

/**
 * parseTime as a regular expression: the grammar written plainly, kept as the reference that
 * test/unit/validate.test.ts compares parseTime against. Not for hot paths.
 */
export function parseTimeReference(value: unknown): number | undefined {
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
    if (year < MIN_YEAR || year > MAX_YEAR) return undefined;
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

/** Epoch milliseconds as the API prints times: ISO-8601 UTC with milliseconds. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** The two ASCII digits at `i` as a number, or -1 (also past the end: charCodeAt is NaN). */
function digits2(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48, b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * An ISO-8601 date-time read by char codes, not by the regular expression of
 * parseTimeReference (which allocates a match array and nine substrings per event): the same
 * grammar (`YYYY-MM-DDTHH:MM[:SS[.fraction of 1-9 digits]]` then `Z` or `±hh[[:]mm]`, `T` and
 * `Z` in either case), the same checks and the same Date.UTC arithmetic, so the same answer for
 * every string (test/unit/validate.test.ts compares the two).
 */
function isoTime(s: string): number | undefined {
  const n = s.length;
  if (n < 17) return undefined;
  const century = digits2(s, 0), yy = digits2(s, 2), month = digits2(s, 5), day = digits2(s, 8);
  const hour = digits2(s, 11), minute = digits2(s, 14);
  const t = s.charCodeAt(10);
  if (century < 0 || yy < 0 || month < 0 || day < 0 || hour < 0 || minute < 0) return undefined;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || (t !== 84 && t !== 116) || s.charCodeAt(13) !== 58) return undefined;
  let i = 16, second = 0, millis = 0;
  if (s.charCodeAt(i) === 58) { // :SS
    second = digits2(s, i + 1);
    if (second < 0) return undefined;
    i += 3;
    const sep = s.charCodeAt(i);
    if (sep === 46 || sep === 44) { // . or , then 1-9 digits, the first three kept
      const start = ++i;
      for (let d = s.charCodeAt(i) - 48; d >= 0 && d <= 9; d = s.charCodeAt(++i) - 48) {
        if (i - start < 3) millis = millis * 10 + d;
      }
      const count = i - start;
      if (count < 1 || count > 9) return undefined;
      for (let k = count; k < 3; k++) millis *= 10;
    }
  }
  let offsetMin = 0;
  const off = s.charCodeAt(i);
  if (off === 90 || off === 122) { // Z
    if (i + 1 !== n) return undefined;
  } else if (off === 43 || off === 45) { // + or -
    const oh = digits2(s, i + 1);
    if (oh < 0) return undefined;
    let om = 0;
    i += 3;
    if (i !== n) {
      if (s.charCodeAt(i) === 58) i++;
      om = digits2(s, i);
      if (om < 0 || i + 2 !== n) return undefined;
    }
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (off === 45 ? -1 : 1) * (oh * 60 + om);
  } else {
    return undefined;
  }
  const year = century * 100 + yy;
  if (year < MIN_YEAR || year > MAX_YEAR) return undefined;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonthOf(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMin * 60_000;
  return ms >= 0 && ms < MAX_TIME_MS ? ms : undefined;
}

/** Days in `month` (1-12) of `year` (1970-2099, checked before), by the Gregorian calendar. */
function daysInMonthOf(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month - 1]!;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}
