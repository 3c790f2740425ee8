import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DiscardPolicy } from 'nats';
import { eventually, getJson, send, startStack } from './helpers.js';
import { createDeadLetterStore, DLQ_LIMITS } from '../../engine/ingest/index.js';
import { natsNames } from '../../storage/nats/index.js';

test('dead letters: listed in pages with code, subject, time and excerpt; replayed after a fix, marked, not twice; the DLQ stream bounded', async () => {
  // Events more than 1 s ahead of the stream's time are dead-lettered: a clock running ahead, fixed by waiting.
  const stack = await startStack(undefined, {}, { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT1S', TIERSTREAM_MAX_FUTURE: 'PT1S' });
  try {
    const subj = `${natsNames(stack.ns).subjectPrefix}send`;
    const ahead = Date.now() + 4_000;
    const payloads = [
      '{"id": "x",',
      JSON.stringify({ id: 'f1', type: 'send', userId: 'u1', campaignId: 'DL', time: ahead }),
      JSON.stringify({ id: 'f2', type: 'send', userId: 'u2', campaignId: 'DL', time: '2026-12-01T00:00:00' }),
    ];
    for (const p of payloads) await stack.publishRaw(subj, p);
    await eventually(async () => (await stack.dlq()).length === 3, 'three dead letters');

    const first = await getJson(stack.ts, '/v1/dead-letters?limit=2');
    assert.is(first.status, 200, JSON.stringify(first.body));
    assert.is(first.body.items.length, 2);
    assert.type(first.body.cursor, 'string');
    const second = await getJson(stack.ts, `/v1/dead-letters?limit=2&cursor=${first.body.cursor}`);
    assert.is(second.body.items.length, 1);
    assert.is(second.body.cursor, null);
    const letters = [...first.body.items, ...second.body.items];
    // Letters of one batch may land in any order: each found by its payload.
    const byExcerpt = (p: string) => letters.find((l: { excerpt: string }) => l.excerpt === p);
    assert.equal(payloads.map((p) => byExcerpt(p)?.code), ['invalid_json', 'time_in_future', 'invalid_time']);
    for (const l of letters) {
      assert.is(l.subject, subj);
      assert.is(l.replayedAt, null);
      assert.ok(Math.abs(Date.parse(l.time) - Date.now()) < 60_000, l.time);
      assert.is(l.size, Buffer.byteLength(l.excerpt));
      assert.ok(l.message.length > 0);
    }

    // The clock caught up: replayed, the event is stored; a bad payload comes back as a new letter.
    while (Date.now() < ahead) await new Promise((r) => setTimeout(r, 200));
    const future = byExcerpt(payloads[1]!).seq as number;
    const json = byExcerpt(payloads[0]!).seq as number;
    const replay = await send(stack.ts, 'POST', '/v1/dead-letters/replay', { seqs: [future, json, 999_999] });
    assert.is(replay.status, 200, JSON.stringify(replay.body));
    assert.equal(replay.body.results.map((r: { seq: number; result: string }) => [r.seq, r.result]), [[future, 'replayed'], [json, 'replayed'], [999_999, 'not_found']]);
    await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/DL')).body.counts?.history === 1, 'the replayed event stored');
    await eventually(async () => (await stack.dlq()).length === 4, 'the still bad one dead-lettered again');
    const again = await send(stack.ts, 'POST', '/v1/dead-letters/replay', { seqs: [future] });
    assert.is(again.body.results[0].result, 'already_replayed');
    const after = (await getJson(stack.ts, '/v1/dead-letters')).body.items as { seq: number; replayedAt: string | null }[];
    assert.equal(after.filter((l) => l.replayedAt !== null).map((l) => l.seq).sort(), [future, json].sort());

    const info = await (await stack.ts.nc.jetstreamManager()).streams.info(natsNames(stack.ns).dlqStream);
    assert.is(info.config.max_msgs, DLQ_LIMITS.maxMsgs);
    assert.is(info.config.max_bytes, DLQ_LIMITS.maxBytes);
    assert.is(info.config.discard, DiscardPolicy.Old);
  } finally {
    await stack.stop();
  }
});

test('dead letters counted by code: GET /v1/dead-letters/counts, over the newest letters read headers only', async () => {
  const stack = await startStack(undefined, {}, { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT1S' });
  try {
    const empty = await getJson(stack.ts, '/v1/dead-letters/counts');
    assert.is(empty.status, 200, JSON.stringify(empty.body));
    assert.equal(empty.body, { total: 0, firstSeq: null, lastSeq: null, scanned: 0, byCode: {} });
    const subj = `${natsNames(stack.ns).subjectPrefix}send`;
    for (const p of ['{"id": "x",', 'not json', JSON.stringify({ id: 'f2', type: 'send', userId: 'u2', campaignId: 'DL', time: '2026-12-01T00:00:00' })]) {
      await stack.publishRaw(subj, p);
    }
    await eventually(async () => (await stack.dlq()).length === 3, 'three dead letters');
    // The first answer is reused for a few seconds: wait until a fresh one counts all three.
    await eventually(async () => (await getJson(stack.ts, '/v1/dead-letters/counts')).body.total === 3, 'three counted', 20_000);
    const counts = (await getJson(stack.ts, '/v1/dead-letters/counts')).body;
    assert.equal(counts.byCode, { invalid_json: 2, invalid_time: 1 });
    assert.is(counts.scanned, 3);
    assert.is(counts.lastSeq - counts.firstSeq, 2);
    // The newest letter is the page that starts at lastSeq.
    const newest = (await getJson(stack.ts, `/v1/dead-letters?cursor=${counts.lastSeq}`)).body.items;
    assert.is(newest.length, 1);
    assert.is(newest[0].seq, counts.lastSeq);
    // The store's cap: only the newest letters are read.
    const store = createDeadLetterStore(stack.ts.nc.jetstream(), await stack.ts.nc.jetstreamManager(), stack.ns);
    const capped = await store.counts(2);
    assert.is(capped.total, 3);
    assert.is(capped.scanned, 2);
    assert.is(Object.values(capped.byCode).reduce((a, b) => a + b, 0), 2);
  } finally {
    await stack.stop();
  }
});

test.run();
