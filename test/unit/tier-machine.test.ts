import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  IllegalTransitionError,
  INITIAL_TIER,
  MAX_TRANSITIONS,
  TIER_TRANSITIONS,
  TIERS,
  addDuration,
  assertTransition,
  expiresAt,
  findTransition,
  newSourceRecord,
  parseDuration,
  transition,
  type SourceRecord,
  type Tier,
} from '../../core/index.js';

const DAY = parseDuration('P1D')!;
const T0 = Date.UTC(2026, 0, 1);
const source = { kind: 'campaign', id: 'c:1' } as const;

/** A record in `tier`, as the registry would hold it. */
function inTier(tier: Tier, extra: Partial<SourceRecord> = {}): SourceRecord {
  return { ...newSourceRecord(source, T0), tier, ...extra };
}

const allowed = new Set(TIER_TRANSITIONS.map((t) => `${t.from}->${t.to}`));

test('the table: four states, hot first, the transitions the tier manager makes', () => {
  assert.equal([...TIERS], ['hot', 'demoting', 'expired', 'restoring']);
  assert.is(INITIAL_TIER, 'hot');
  assert.equal(
    TIER_TRANSITIONS.map((t) => [t.from, t.to, t.event]),
    [
      [null, 'hot', 'created'],
      ['hot', 'demoting', 'demote'],
      ['demoting', 'demoting', 'demotion_resumed'],
      ['demoting', 'expired', 'demotion_finished'],
      ['expired', 'restoring', 'restore'],
      ['restoring', 'restoring', 'restore_resumed'],
      ['restoring', 'hot', 'restore_finished'],
    ],
  );
  assert.is(allowed.size, TIER_TRANSITIONS.length, 'one entry per pair');
  for (const t of TIER_TRANSITIONS) assert.ok(t.reason.length > 0, `${t.event} has a reason`);
  assert.ok(Object.isFrozen(TIER_TRANSITIONS) && TIER_TRANSITIONS.every(Object.isFrozen), 'the table is not mutable');
});

test('every allowed transition passes and records its reason', () => {
  for (const t of TIER_TRANSITIONS) {
    if (t.from === null) continue;
    const before = inTier(t.from);
    const at = T0 + 1_000;
    const after = transition(before, t.to, `because ${t.event}`, at, DAY);
    assert.is(after.tier, t.to);
    assert.equal(after.transitions, [...before.transitions, { tier: t.to, at, reason: `because ${t.event}` }]);
    assert.is(before.tier, t.from, 'the input record is not changed');
    assert.is(before.transitions.length, 1);
    assert.is(findTransition(t.from, t.to), t);
    assert.is(assertTransition(t.from, t.to), t);
  }
});

test('creation is the table entry (none) -> hot', () => {
  const rec = newSourceRecord(source, T0, 'created by PUT');
  assert.is(rec.tier, 'hot');
  assert.equal(rec.transitions, [{ tier: 'hot', at: T0, reason: 'created by PUT' }]);
  assert.is(newSourceRecord(source, T0).transitions[0]!.reason, 'created by first event');
  assert.is(findTransition(null, 'hot')?.event, 'created');
});

test('every pair not in the table throws IllegalTransitionError', () => {
  let illegal = 0;
  for (const from of [null, ...TIERS]) {
    for (const to of TIERS) {
      if (allowed.has(`${from}->${to}`)) continue;
      illegal++;
      assert.is(findTransition(from, to), undefined);
      const check = (fn: () => unknown) => {
        try {
          fn();
        } catch (err) {
          assert.instance(err, IllegalTransitionError);
          assert.instance(err, Error);
          const e = err as IllegalTransitionError;
          assert.is(e.code, 'illegal_transition');
          assert.is(e.name, 'IllegalTransitionError');
          assert.is(e.from, from);
          assert.is(e.to, to);
          return e;
        }
        assert.unreachable(`${from} -> ${to} should throw`);
      };
      check(() => assertTransition(from, to));
      if (from !== null) {
        const e = check(() => transition(inTier(from), to, 'nope', T0, DAY))!;
        assert.is(e.source, 'campaign:c:1');
        assert.match(e.message, `${from} -> ${to}`);
      }
    }
  }
  // 4 x 4 pairs between states, 6 allowed; from (none) only hot.
  assert.is(illegal, 16 - 6 + 3);
});

test('expiresAt is recomputed on every transition, as before', () => {
  const stopped = { status: 'stopped' as const, stoppedAt: T0 };
  // Stopped, unpinned: stoppedAt + TIER_EXPIRE_AFTER.
  const demoting = transition(inTier('hot', { ...stopped, expiresAt: null }), 'demoting', 'expired', T0 + 5, DAY);
  assert.is(demoting.expiresAt, addDuration(T0, DAY));
  // Restore finished: the clock restarts at the end of the restore.
  const finishedAt = T0 + 10 * 86_400_000;
  const restoring = inTier('restoring', { ...stopped, restore: { startedAt: finishedAt - 5, finishedAt, progress: 1 } });
  const hot = transition(restoring, 'hot', 'restore finished: 3 aggregate rows', finishedAt, DAY);
  assert.is(hot.expiresAt, addDuration(finishedAt, DAY));
  assert.is(hot.expiresAt, expiresAt(hot, DAY));
  // A later unpin restarts it too.
  const unpinned = transition(inTier('hot', { ...stopped, lastUnpinAt: finishedAt + 7 }), 'demoting', 'x', finishedAt, DAY);
  assert.is(unpinned.expiresAt, addDuration(finishedAt + 7, DAY));
  // Calendar units by the UTC calendar.
  const month = parseDuration('P1M')!;
  const jan31 = Date.UTC(2026, 0, 31);
  assert.is(transition(inTier('hot', { status: 'stopped', stoppedAt: jan31 }), 'demoting', 'x', jan31, month).expiresAt, Date.UTC(2026, 1, 28));
  // Active or pinned: no expiry, whatever was stored.
  assert.is(transition(inTier('hot', { expiresAt: 123 }), 'demoting', 'x', T0, DAY).expiresAt, null);
  assert.is(transition(inTier('expired', { ...stopped, pinnedBy: ['f1'], expiresAt: 123 }), 'restoring', 'x', T0, DAY).expiresAt, null);
});

test('the audit trail keeps the last MAX_TRANSITIONS', () => {
  let rec = inTier('restoring');
  for (let i = 0; i < MAX_TRANSITIONS + 5; i++) rec = transition(rec, 'restoring', `resumed ${i}`, T0 + i, DAY);
  assert.is(rec.transitions.length, MAX_TRANSITIONS);
  assert.is(rec.transitions.at(-1)!.reason, `resumed ${MAX_TRANSITIONS + 4}`);
  assert.is(rec.transitions[0]!.reason, 'resumed 5');
});

test('other fields are carried over untouched', () => {
  const lease = { owner: 'p1', until: T0 + 15_000 };
  const rec = inTier('demoting', { name: 'Spring', tags: ['a'], pinnedBy: ['f'], lease, pendingRestore: true });
  const next = transition(rec, 'expired', 'demotion finished: 4 keys removed', T0, DAY);
  assert.equal({ ...next, tier: rec.tier, transitions: rec.transitions, expiresAt: rec.expiresAt }, rec);
});

test.run();
