import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseTime, parseTimeReference, formatTime } from '../../core/time.js';

test('ISO-8601 with Z and offsets', () => {
  assert.is(parseTime('2026-03-01T00:00:00Z'), Date.UTC(2026, 2, 1));
  assert.is(parseTime('2026-03-01T01:30:00+01:30'), Date.UTC(2026, 2, 1));
  assert.is(parseTime('2026-03-01T00:00:00.123-02:00'), Date.UTC(2026, 2, 1, 2, 0, 0, 123));
  assert.is(parseTime('2026-03-01T00:00:00.1239999Z'), Date.UTC(2026, 2, 1, 0, 0, 0, 123));
  assert.is(parseTime('2026-03-01T00:00Z'), Date.UTC(2026, 2, 1));
  assert.is(parseTime('2026-03-01T00:00:00+0100'), Date.UTC(2026, 1, 28, 23));
});

test('epoch milliseconds', () => {
  assert.is(parseTime(0), 0);
  assert.is(parseTime(1_767_225_600_000), 1_767_225_600_000);
});

test('rejects what is not a time', () => {
  for (const bad of [
    '2026-03-01T00:00:00', // no offset
    '2026-03-01', '2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-03-01T24:00:00Z',
    '2026-03-01T00:00:60Z', '2026-03-01T00:00:00+25:00', 'yesterday', '', '1767225600000',
    1.5, -1, Number.NaN, Infinity, 4_102_444_800_000, null, true, {}, [],
  ]) {
    assert.is(parseTime(bad), undefined, JSON.stringify(bad));
  }
});

test('only years 1970-2099 as written: years 0070-0099 are not read as 1970-1999 (Date.UTC maps 0-99 to 1900-1999)', () => {
  for (const parse of [parseTime, parseTimeReference]) {
    for (const bad of ['0070-01-01T00:00:00Z', '0099-12-31T23:59:59Z', '0000-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '2100-01-01T00:00:00Z', '2100-01-01T00:30:00+01:00']) {
      assert.is(parse(bad), undefined, bad);
    }
    assert.is(parse('1970-01-01T00:00:00Z'), 0);
    assert.is(parse('2099-12-31T23:59:59.999Z'), 4_102_444_799_999);
  }
});

test('formats as UTC with milliseconds', () => {
  assert.is(formatTime(Date.UTC(2026, 10, 25, 10)), '2026-11-25T10:00:00.000Z');
});

test.run();
