import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { recordsOf, recordOf, runPool, newSourceRecord, type SourceRecord, type SourceRef } from '../../core/index.js';
import { decodeCursor, encodeCursor } from '../../api/cursor.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('runPool: every task runs, in order, never more than maxInFlight at a time', async () => {
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const tasks = Array.from({ length: 20 }, (_, i) => async () => {
    started.push(i);
    most = Math.max(most, ++running);
    for (let k = 0; k < 1 + (i % 3); k++) await tick();
    running--;
  });
  await runPool(tasks, 4);
  assert.equal(started, Array.from({ length: 20 }, (_, i) => i));
  assert.is(most, 4);
});

test('runPool: reads a generator lazily, and starts nothing after a failure', async () => {
  let made = 0;
  const failing = function* () {
    for (let i = 0; i < 100; i++) {
      made++;
      yield async () => {
        await tick();
        if (i === 3) throw new Error('task 3');
      };
    }
  };
  try {
    await runPool(failing(), 2);
    assert.unreachable('rejects');
  } catch (err) {
    assert.is((err as Error).message, 'task 3');
  }
  assert.ok(made <= 5, `tasks made after the failure: ${made}`);
  await runPool(failing(), Infinity).then(() => assert.unreachable('rejects'), (err: Error) => assert.match(err.message, /Infinity only for an array/));
  await runPool([], Infinity);
});

test('recordsOf: the mirror where it has a record, the registry only for the others', async () => {
  const a: SourceRef = { kind: 'campaign', id: 'A' };
  const b: SourceRef = { kind: 'campaign', id: 'B' };
  const c: SourceRef = { kind: 'canvas', id: 'C' };
  const mirror = new Map<string, SourceRecord>([['campaign:A', newSourceRecord(a, 0)]]);
  const stored = new Map<string, SourceRecord>([['campaign:A', newSourceRecord(a, 0)], ['campaign:B', newSourceRecord(b, 1)]]);
  const read: string[] = [];
  const registry = {
    peek: (s: SourceRef) => mirror.get(`${s.kind}:${s.id}`),
    get: async (s: SourceRef) => (read.push(`${s.kind}:${s.id}`), stored.get(`${s.kind}:${s.id}`) ?? null),
  };
  const recs = await recordsOf(registry, [a, b, c]);
  assert.is(recs[0], mirror.get('campaign:A'), 'the mirrored record itself');
  assert.is(recs[1], stored.get('campaign:B'));
  assert.is(recs[2], null);
  assert.equal(read, ['campaign:B', 'canvas:C']);
  read.length = 0;
  assert.is(await recordOf(registry, a), mirror.get('campaign:A'));
  assert.equal(read, []);
});

test('cursors: base64url of their text, any text round trips', () => {
  for (const text of ['campaign:A', 'h:12:ü/é', '', '[1700000000000,"canvas:c:1"]']) {
    const c = encodeCursor(text);
    assert.match(c, /^[A-Za-z0-9_-]*$/);
    assert.is(decodeCursor(c), text);
  }
});

test.run();
