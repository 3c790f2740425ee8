import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, startStack, TEST_ENGINE } from './helpers.js';
import { natsNames } from '../../storage/nats/index.js';

test('each kind of bad input lands in the DLQ with its code; good events around it are stored', async () => {
  const stack = await startStack();
  try {
    const subj = natsNames(stack.ns).subjectPrefix;
    const ok = (i: number) => JSON.stringify({ id: `g${i}`, type: 'send', userId: `u${i}`, campaignId: 'A', time: 1_000 + i });
    const base = { id: 'b', type: 'send', userId: 'u', campaignId: 'A', time: 1 };
    const bytes = (before: string, raw: number[], after: string) =>
      new Uint8Array([...Buffer.from(before), ...raw, ...Buffer.from(after)]);
    const bad: [string, string | Uint8Array][] = [
      ['invalid_json', '{"id": "x",'],
      // Not UTF-8: 0xff in userId (was invalid_field), an overlong "/" in properties (was stored as U+FFFD).
      ['invalid_json', bytes('{"id":"b","type":"send","campaignId":"A","time":1,"userId":"u', [0xff], '"}')],
      ['invalid_json', bytes('{"id":"b","type":"send","userId":"u","campaignId":"A","time":1,"properties":{"s":"', [0xc0, 0xaf], '"}}')],
      ['not_an_object', '[1,2,3]'],
      ['missing_field', JSON.stringify({ ...base, userId: undefined })],
      ['unknown_field', JSON.stringify({ ...base, extra: true })],
      ['unknown_field', '{"__proto__":{"polluted":1},"id":"p","type":"send","userId":"u","campaignId":"A","time":1}'],
      ['invalid_field', JSON.stringify({ ...base, type: 'view' })],
      ['invalid_field', JSON.stringify({ ...base, campaignId: "A'; DROP TABLE x; --" })],
      ['invalid_field', JSON.stringify({ ...base, campaignId: '{A}*' })],
      ['invalid_field', JSON.stringify({ ...base, userId: 'u\nx' })],
      ['invalid_field', JSON.stringify({ ...base, userId: 'u'.repeat(10_000) })],
      // properties nested 7,000 levels (14 KB): over the depth limit, not a stack overflow labelled invalid_json.
      ['invalid_field', `${JSON.stringify(base).slice(0, -1)},"properties":{"a":${'['.repeat(7_000)}${']'.repeat(7_000)}}}`],
      ['invalid_time', JSON.stringify({ ...base, time: '2026-01-01T00:00:00' })],
      // Date.UTC reads year 70 as 1970: refused as written (issue 22, finding 8).
      ['invalid_time', JSON.stringify({ ...base, time: '0070-01-01T00:00:00Z' })],
      // More than TIERSTREAM_MAX_FUTURE (P1D) ahead of the time it was published.
      ['time_in_future', JSON.stringify({ ...base, time: Date.now() + 2 * 86_400_000 })],
      ['time_in_future', JSON.stringify({ ...base, time: '2099-01-01T00:00:00Z' })],
      ['invalid_source', JSON.stringify({ ...base, canvasId: 'C' })],
      ['invalid_source', JSON.stringify({ ...base, stepId: 's1' })],
      ['message_too_large', JSON.stringify({ ...base, properties: { pad: 'x'.repeat(16 * 1024) } })],
    ];
    let i = 0;
    for (const [, payload] of bad) {
      await stack.publishRaw(`${subj}send`, ok(i), `g${i}`);
      i++;
      await stack.publishRaw(`${subj}send`, payload);
    }
    await stack.publishRaw(`${subj}send`, ok(i), `g${i}`);
    i++;

    await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/A')).body.counts?.history === i, 'good events stored');
    const letters = await eventually(async () => {
      const d = await stack.dlq();
      return d.length === bad.length ? d : undefined;
    }, 'dead letters');
    // Each payload's own letter, found by its data: letters of batches written concurrently
    // may land in the DLQ out of publish order (seen on the NATS and ClickHouse clusters), and
    // nothing promises that order. Payloads are distinct, so each has exactly one letter.
    const text = (p: string | Uint8Array) => (typeof p === 'string' ? p : Buffer.from(p).toString('utf8'));
    assert.equal(new Set(bad.map(([, p]) => text(p))).size, bad.length, 'the bad payloads are distinct');
    for (const [code, payload] of bad) {
      const mine = letters.filter((l) => l.data === text(payload));
      assert.is(mine.length, 1, `one letter for the ${code} payload ${text(payload).slice(0, 60)}`);
      assert.is(mine[0]!.code, code, `the code of ${text(payload).slice(0, 60)}`);
    }
    assert.ok(letters.every((l) => l.subject === `${subj}send`));
    // History is written before Redis: the last batch's hot write may still be under way.
    await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/A')).body.counts.hot === i, `all ${i} good users hot`);
    assert.is(({} as Record<string, unknown>).polluted, undefined);
    const metrics = await stack.ts.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /tierstream_dead_letters_total\{code="invalid_json"\} 3/);
    // Terminated for good: nothing left awaiting ack, nothing redelivered after the ack wait
    // (NATS 2.9 ignored "+TERM <reason>" and redelivered every poison message for ever).
    const jsm = await stack.ts.nc.jetstreamManager();
    const names = natsNames(stack.ns);
    await eventually(async () => (await jsm.consumers.info(names.stream, names.consumer)).num_ack_pending === 0, 'nothing awaiting ack');
    await new Promise((r) => setTimeout(r, TEST_ENGINE.ackWaitMs! + 500));
    const info = await jsm.consumers.info(names.stream, names.consumer);
    assert.is(info.num_ack_pending, 0);
    assert.is(info.num_redelivered, 0);
    assert.not.match((await stack.ts.app.inject({ method: 'GET', url: '/metrics' })).body, /tierstream_redeliveries_total [1-9]/);
  } finally {
    await stack.stop();
  }
});

test.run();
