import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatBytes, formatCount, formatDate, formatEta, formatPercent, parseSourceName, plural, relativeTime, sourceHref, durationWords, reasonWords } from '../../console/src/format.js';

const now = Date.parse('2026-11-26T12:00:00.000Z');
const at = (ms: number) => new Date(now + ms).toISOString();
const DAY = 86_400_000;

test('relative times pick the largest whole unit and never round past the date', () => {
  assert.is(relativeTime(at(12 * DAY), now), 'in 12 days');
  assert.is(relativeTime(at(12 * DAY - 1), now), 'in 11 days');
  assert.is(relativeTime(at(-3 * 3_600_000), now), '3 hours ago');
  assert.is(relativeTime(at(40_000), now), 'in 40 seconds');
  assert.is(relativeTime(at(-90_000), now), '1 minute ago');
  assert.is(relativeTime(at(36 * 3_600_000), now), 'in 36 hours');
  assert.is(relativeTime(at(90 * DAY), now), 'in 3 months');
  assert.is(relativeTime(at(-800 * DAY), now), '2 years ago');
  assert.is(relativeTime(at(0), now), 'just now', 'never "in 0 seconds"');
  assert.is(relativeTime(at(999), now), 'just now');
  assert.is(relativeTime(at(-999), now), 'just now');
  assert.is(relativeTime(at(5_000), now, true), 'just now', 'a start a clock ahead put in the future');
  assert.is(relativeTime(at(-5_000), now, true), '5 seconds ago');
  assert.is(relativeTime(null, now), '—');
});

test('the retention in words', () => {
  assert.is(durationWords('P3M'), '3 months');
  assert.is(durationWords('PT30S'), '30 seconds');
  assert.is(durationWords('P1D'), '1 day');
  assert.is(durationWords('PT1H30M'), '1 hour and 30 minutes');
  assert.is(durationWords('P1Y2M3D'), '1 year, 2 months and 3 days');
  assert.is(durationWords('PT0.5S'), '0.5 seconds');
  assert.is(durationWords('PT0S'), 'no time');
  assert.is(durationWords('soon'), 'soon');
  assert.is(durationWords('P'), 'P');
});

test('tier reasons for people: times formatted, no internal counts', () => {
  assert.is(reasonWords('expired: stopped at 2026-09-01T09:00:00.000Z, expiry 2026-09-01T09:00:30.000Z', 'UTC'),
    'Expired: it stopped 1 Sept 2026, 09:00:00 UTC and its retention ran out 1 Sept 2026, 09:00:30 UTC, with no retargeting filter using it.');
  for (const r of ['demotion finished: 29 keys removed', 'restore finished: 390290 aggregate rows']) {
    assert.not.match(reasonWords(r), /\d/, r);
  }
  assert.is(reasonWords('restore finished: 390290 aggregate rows'), 'Restore finished: its interaction data is back in the real-time index.');
  assert.is(reasonWords('resumed after a lapsed restore: resumed'), 'The restore went on: the process doing it stopped renewing its claim, so another took it over.');
  assert.match(reasonWords('resumed after a lapsed restore: bulk restore of tag autumn'), /first asked for as: restore asked for every source tagged “autumn”\.$/);
  assert.is(reasonWords('pinned by filter a, b'), 'Restored because retargeting filters a, b use it.');
  assert.is(reasonWords('pinned by filter a'), 'Restored because retargeting filter a uses it.');
  assert.is(reasonWords('bulk restore of tag autumn'), 'Restore asked for every source tagged “autumn”.');
  assert.is(reasonWords('restore requested by API'), 'Restore asked for (console or API).');
  assert.is(reasonWords('something new'), 'Something new', 'an unknown reason as given');
});

test('dates, counts, percentages', () => {
  assert.is(formatDate('2026-11-26T12:05:09.000Z', 'UTC'), '26 Nov 2026, 12:05:09 UTC');
  assert.is(formatDate(null), '—');
  assert.is(formatCount(12_345), '12,345');
  assert.is(formatCount(null), '—');
  assert.is(formatPercent(0.421), '42 %');
  assert.is(formatPercent(1.5), '100 %');
  assert.is(plural(1, 'source'), '1 source');
  assert.is(plural(3, 'source'), '3 sources');
});

test('source names and console routes', () => {
  assert.equal(parseSourceName('campaign:A:b'), { kind: 'campaign', id: 'A:b' });
  assert.equal(parseSourceName('canvas:C'), { kind: 'canvas', id: 'C' });
  assert.is(parseSourceName('segment:X'), undefined);
  assert.is(sourceHref('canvas', 'a b'), '#/canvases/a%20b');
});

test('bytes in binary units, three significant digits; a restore estimate in words', () => {
  assert.is(formatBytes(0), '0 B');
  assert.is(formatBytes(1023), '1023 B');
  assert.is(formatBytes(3_482), '3.40 KiB');
  assert.is(formatBytes(12.04 * 1024 * 1024), '12.0 MiB');
  assert.is(formatBytes(125 * 1024 ** 3), '125 GiB');
  assert.is(formatEta(0), '1 s');
  assert.is(formatEta(42), '42 s');
  assert.is(formatEta(150), '3 min');
  assert.is(formatEta(7_500), '2 h 5 min');
});

test.run();
