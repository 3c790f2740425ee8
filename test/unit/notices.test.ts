import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import { MAX_TRANSITIONS, newSourceRecord, parseDuration, pendingNotices, transition, webhookSignature, withNoticeMark, type SourceRecord } from '../../core/index.js';

const DAY = parseDuration('P1D')!;
const demoted = (): SourceRecord => {
  let r = newSourceRecord({ kind: 'campaign', id: 'A' }, 1_000);
  r = transition(r, 'demoting', 'expired after P1D', 2_000, DAY);
  return transition(r, 'expired', 'demotion finished', 3_000, DAY);
};

test('notices: every transition once, in order, with the previous tier; the mark moves forward only', () => {
  const r = demoted();
  const all = pendingNotices(r);
  assert.equal(all.map((p) => [p.notice.tier, p.notice.previous]), [['hot', null], ['demoting', 'hot'], ['expired', 'demoting']]);
  assert.equal(all[1]!.notice, { source: 'campaign:A', tier: 'demoting', previous: 'hot', at: new Date(2_000).toISOString(), reason: 'expired after P1D' });
  assert.is(new Set(all.map((p) => p.msgId)).size, 3, 'distinct message ids');
  const marked = withNoticeMark(r, all[1]!.mark)!;
  assert.equal(pendingNotices(marked).map((p) => p.notice.tier), ['expired']);
  assert.is(withNoticeMark(marked, all[0]!.mark), undefined, 'an older mark does not move it back');
  assert.is(withNoticeMark(marked, all[1]!.mark), undefined, 'the same mark is no change');
  const done = withNoticeMark(marked, all[2]!.mark)!;
  assert.equal(pendingNotices(done), []);
  // A new transition after the mark is pending; the message id is the same from any process.
  const again = transition(done, 'restoring', 'restore asked', 4_000, DAY);
  assert.equal(pendingNotices(again).map((p) => p.msgId), ['campaign:A@4000:restoring']);
  assert.is(withNoticeMark(null, all[0]!.mark), undefined);
});

test('notices: a mark that aged out of the kept transitions publishes what is kept', () => {
  let r = demoted();
  const first = pendingNotices(r)[0]!.mark;
  r = withNoticeMark(r, first)!;
  let t = 10_000;
  for (let i = 0; i < MAX_TRANSITIONS / 2; i++) {
    for (const tier of ['restoring', 'hot', 'demoting', 'expired'] as const) r = transition(r, tier, `cycle ${i}`, t++, DAY);
  }
  assert.is(pendingNotices(r).length, MAX_TRANSITIONS);
});

test('webhook signature: sha256= and the hex HMAC of the exact bytes', () => {
  const body = '{"source":"campaign:A","tier":"hot"}';
  assert.is(webhookSignature(body, 'k'), `sha256=${createHmac('sha256', 'k').update(body).digest('hex')}`);
  assert.is.not(webhookSignature(`${body} `, 'k'), webhookSignature(body, 'k'));
});

test.run();
