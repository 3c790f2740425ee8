// Pure formatting: no DOM, so unit tests run it under Node.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'always' });

/**
 * "in 12 days", "3 hours ago", "in 40 seconds": the largest unit that gives a number of at
 * least 1 (seconds under a minute, minutes under an hour, hours under two days, days under
 * 60 days, then months of 30 days, then years of 365). `null` gives "—".
 */
export function relativeTime(iso: string | null, now: number): string {
  if (iso === null) return '—';
  const diff = Date.parse(iso) - now;
  const abs = Math.abs(diff);
  const [value, unit]: [number, Intl.RelativeTimeFormatUnit] =
    abs < MINUTE ? [diff / 1000, 'second']
    : abs < HOUR ? [diff / MINUTE, 'minute']
    : abs < 2 * DAY ? [diff / HOUR, 'hour']
    : abs < 60 * DAY ? [diff / DAY, 'day']
    : abs < 365 * DAY ? [diff / (30 * DAY), 'month']
    : [diff / (365 * DAY), 'year'];
  // Truncate towards zero, so "in 11.9 days" reads "in 11 days" and never rounds past the date.
  const n = Math.trunc(value);
  return rtf.format(n === 0 ? (diff < 0 ? -0 : 0) : n, unit);
}

/** "26 Nov 2026, 14:05 UTC" in the given time zone (the browser's by default); `null` gives "—". */
export function formatDate(iso: string | null, timeZone?: string): string {
  if (iso === null) return '—';
  return new Intl.DateTimeFormat('en-GB', {
    day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
    hour12: false, timeZone, timeZoneName: 'short',
  }).format(new Date(iso));
}

/** 12,345; `null` (not hot) gives "—". */
export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : n.toLocaleString('en-US');
}

/** 0.421 -> "42 %". */
export function formatPercent(fraction: number): string {
  return `${Math.floor(Math.max(0, Math.min(1, fraction)) * 100)} %`;
}

/** "campaign:A" -> {kind, id}; undefined for anything else. */
export function parseSourceName(name: string): { kind: 'campaign' | 'canvas'; id: string } | undefined {
  const m = /^(campaign|canvas):(.+)$/.exec(name);
  return m ? { kind: m[1] as 'campaign' | 'canvas', id: m[2]! } : undefined;
}

/** The console route of a source page: `#/campaigns/A`. */
export function sourceHref(kind: 'campaign' | 'canvas', id: string): string {
  return `#/${kind === 'campaign' ? 'campaigns' : 'canvases'}/${encodeURIComponent(id)}`;
}

/** "1 source", "3 sources". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? word : many}`;
}

/** A restore's estimated time left, in words: "12 s", "3 min", "2 h 5 min". */
export function formatEta(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, seconds)} s`;
  const min = Math.round(seconds / 60);
  return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** Bytes in binary units, three significant digits: "512 B", "3.40 KiB", "12.0 MiB", "125 GiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}
