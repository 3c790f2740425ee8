import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { largestFirst, newSourceRecord, summarizeSources, type SourceRecord, type Tier } from '../../core/index.js';

const rec = (kind: 'campaign' | 'canvas', id: string, tier: Tier, transitions: [Tier, number][], extra: Partial<SourceRecord> = {}): SourceRecord => ({
  ...newSourceRecord({ kind, id }, 0),
  tier,
  transitions: transitions.map(([t, at]) => ({ tier: t, at, reason: `${t} at ${at}` })),
  ...extra,
});

test('summarizeSources: counts per tier and kind, restores with their estimate, newest transitions across sources', () => {
  const records = [
    rec('campaign', 'A', 'hot', [['hot', 1], ['demoting', 5], ['expired', 6], ['restoring', 9], ['hot', 12]]),
    rec('campaign', 'B', 'expired', [['hot', 2], ['demoting', 10], ['expired', 11]]),
    rec('canvas', 'C', 'restoring', [['hot', 3], ['demoting', 4], ['expired', 7], ['restoring', 12]], { restore: { startedAt: 10_000, finishedAt: null, progress: 0.25 }, name: 'Flow' }),
    rec('canvas', 'D', 'hot', [['hot', 8]]),
  ];
  const s = summarizeSources(records, 20_000, 4);
  assert.is(s.total, 4);
  assert.equal(s.tiers, { hot: 2, demoting: 0, expired: 1, restoring: 1 });
  assert.equal(s.kinds.campaign, { hot: 1, demoting: 0, expired: 1, restoring: 0 });
  assert.equal(s.kinds.canvas, { hot: 1, demoting: 0, expired: 0, restoring: 1 });
  assert.equal(s.restoring, [{ source: 'canvas:C', name: 'Flow', startedAt: 10_000, progress: 0.25, etaSeconds: 30 }]);
  // Newest first; the tie at 12 by source name.
  assert.equal(s.transitions.map((t) => [t.source, t.tier, t.at]), [
    ['campaign:A', 'hot', 12], ['canvas:C', 'restoring', 12], ['campaign:B', 'expired', 11], ['campaign:B', 'demoting', 10],
  ]);
  assert.is(s.transitions[0]!.reason, 'hot at 12');
  // Whatever the records' order, the same answer.
  assert.equal(summarizeSources([...records].reverse(), 20_000, 4), { ...s, restoring: s.restoring });
  assert.equal(summarizeSources(records, 20_000, 0).transitions, []);
  assert.is(summarizeSources(records, 20_000, 100).transitions.length, 13);
});

test('largestFirst: by users, ties by name, at most max', () => {
  const items = [{ source: 'b', users: 5 }, { source: 'a', users: 5 }, { source: 'c', users: 9 }, { source: 'd', users: 1 }];
  assert.equal(largestFirst(items, 3).map((i) => i.source), ['c', 'a', 'b']);
});

test.run();
