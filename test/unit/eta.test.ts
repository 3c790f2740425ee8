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

test.run();
