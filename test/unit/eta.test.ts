import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { newSourceRecord, restoreEtaSeconds, type SourceRecord } from '../../core/index.js';

const restoring = (progress: number, startedAt = 0): SourceRecord => ({
  ...newSourceRecord({ kind: 'campaign', id: 'A' }, 0),
  tier: 'restoring',
  restore: { startedAt, finishedAt: null, progress },
});

test('restore ETA: elapsed x (1 - progress) / progress, null without a rate or outside a restore', () => {
  assert.is(restoreEtaSeconds(restoring(0.25), 10_000), 30, '10 s for a quarter: 30 s for the rest');
  assert.is(restoreEtaSeconds(restoring(0.5, 1_000), 5_000), 4);
  assert.is(restoreEtaSeconds(restoring(0.9), 1_000), 1, 'rounded up');
  assert.is(restoreEtaSeconds(restoring(0), 10_000), null, 'no chunk written yet');
  assert.is(restoreEtaSeconds(restoring(1), 10_000), 0);
  assert.is(restoreEtaSeconds({ ...restoring(0.5), tier: 'hot' }, 10_000), null);
  assert.is(restoreEtaSeconds({ ...restoring(0.5), restore: null }, 10_000), null);
});

test('restore ETA: the rate is taken at the last progress report, and the time since it is subtracted', () => {
  const at = (progress: number, progressAt: number): SourceRecord => ({ ...restoring(progress), restore: { startedAt: 0, finishedAt: null, progress, progressAt } });
  assert.is(restoreEtaSeconds(at(0.25, 10_000), 10_000), 30, 'read at the report: as before');
  assert.is(restoreEtaSeconds(at(0.25, 10_000), 14_000), 26, '4 s after the report: 4 s less, not a longer estimate');
  assert.is(restoreEtaSeconds(at(0.25, 10_000), 60_000), 0, 'never below zero');
  assert.is(restoreEtaSeconds(restoring(0.25), 14_000), 42, 'an earlier version\'s record: measured at now');
});

test.run();
