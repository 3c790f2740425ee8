// Pure formatting: no DOM, so unit tests run it under Node.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'always' });

/**
 * "in 12 days", "3 hours ago", "in 40 seconds": the largest unit that gives a number of at
 * least 1 (seconds under a minute, minutes under an hour, hours under two days, days under
 * 60 days, then months of 30 days, then years of 365); under a second "just now". With `past`,
 * a time that can only have happened (a start) reads "just now" when a clock ahead of this
 * browser's puts it in the future. `null` gives "—".
 */
export function relativeTime(iso: string | null, now: number, past = false): string {
  if (iso === null) return '—';
  const diff = past ? Math.min(0, Date.parse(iso) - now) : Date.parse(iso) - now;
  const abs = Math.abs(diff);
  if (abs < 1_000) return 'just now';
  const [value, unit]: [number, Intl.RelativeTimeFormatUnit] =
    abs < MINUTE ? [diff / 1000, 'second']
    : abs < HOUR ? [diff / MINUTE, 'minute']
    : abs < 2 * DAY ? [diff / HOUR, 'hour']
    : abs < 60 * DAY ? [diff / DAY, 'day']
    : abs < 365 * DAY ? [diff / (30 * DAY), 'month']
    : [diff / (365 * DAY), 'year'];
  // Truncate towards zero, so "in 11.9 days" reads "in 11 days" and never rounds past the date.
  return rtf.format(Math.trunc(value), unit);
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

const DURATION = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;
const DURATION_UNITS = ['year', 'month', 'week', 'day', 'hour', 'minute', 'second'];

/** An ISO-8601 duration in words: "P3M" -> "3 months", "PT1H30M" -> "1 hour and 30 minutes"; anything else as given. */
export function durationWords(iso: string): string {
  const m = DURATION.exec(iso);
  if (!m || iso === 'P' || iso.endsWith('T')) return iso;
  const parts = DURATION_UNITS.flatMap((unit, i) => {
    const n = Number(m[i + 1] ?? 0);
    return n ? [`${n.toLocaleString('en-US')} ${n === 1 ? unit : `${unit}s`}`] : [];
  });
  if (parts.length === 0) return 'no time';
  return parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

const WORK_RESUMED = 'the process doing it stopped renewing its claim, so another took it over';

/**
 * A tier transition's reason (the API's words for operators' logs) for people: times formatted
 * with formatDate, no internal counts (keys, aggregate rows). A reason it does not know is
 * shown as given, with a capital letter.
 */
export function reasonWords(reason: string, timeZone?: string): string {
  const date = (iso: string) => (Number.isNaN(Date.parse(iso)) ? iso : formatDate(iso, timeZone));
  let m: RegExpExecArray | null;
  if ((m = /^expired: stopped at (\S+), expiry (\S+)$/.exec(reason))) {
    return `Expired: it stopped ${date(m[1]!)} and its retention ran out ${date(m[2]!)}, with no retargeting filter using it.`;
  }
  if (/^demotion finished\b/.test(reason)) return 'Moved to long-term storage: its interaction data left the real-time index; history keeps it.';
  if (/^restore finished\b/.test(reason)) return 'Restore finished: its interaction data is back in the real-time index.';
  if (reason === 'resumed after a lapsed demotion') return `The move to long-term storage went on where it was: ${WORK_RESUMED}.`;
  if (reason === 'resumed') return `The restore went on: ${WORK_RESUMED}.`;
  if ((m = /^resumed after a lapsed restore: (.*)$/.exec(reason))) {
    const first = m[1]!;
    return `The restore went on: ${WORK_RESUMED}.${first && first !== 'resumed' ? ` It was first asked for as: ${reasonWords(first, timeZone).replace(/\.$/, '').toLowerCase()}.` : ''}`;
  }
  if (reason === 'requested during demotion') return 'Restore asked for while it was being moved to long-term storage; it started once the move finished.';
  if (reason === 'restore requested by API') return 'Restore asked for (console or API).';
  if (reason === 'demoted by API (admin)') return 'Moved to long-term storage on purpose by an admin.';
  if (reason === 'set active') return 'Set active: an active source is kept in the real-time index.';
  if (reason === 'bulk restore') return 'Restore asked for with other selected sources.';
  if ((m = /^bulk restore of tag (.+)$/.exec(reason))) return `Restore asked for every source tagged “${m[1]}”.`;
  if ((m = /^pinned by filter (.+)$/.exec(reason))) {
    const ids = m[1]!.split(', ');
    return `Restored because retargeting ${ids.length === 1 ? 'filter' : 'filters'} ${ids.join(', ')} ${ids.length === 1 ? 'uses' : 'use'} it.`;
  }
  if (reason === 'created by first event') return 'Known from its first event on.';
  if (reason === 'created by PUT') return 'Declared through the API before its first event.';
  return reason ? `${reason[0]!.toUpperCase()}${reason.slice(1)}` : reason;
}
