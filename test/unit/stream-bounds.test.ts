import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BYTES_PER_EVENT_BOUND, eventsBound, exactByteLimit, fill, isStreamFullError } from '../../engine/ingest/jetstream.js';

test('the bound is max_bytes from nats-server 2.10.5 on, max_msgs before (nats-server#4771)', () => {
  for (const v of ['2.10.5', '2.10.22', '2.11.0', '3.0.0', 'v2.12.1', undefined, 'dev']) assert.ok(exactByteLimit(v), String(v));
  for (const v of ['2.9.10', '2.10.4', '2.2.0', '1.9.9']) assert.not.ok(exactByteLimit(v), v);
  assert.equal(eventsBound(4096 * 1024, '2.10.7'), { max_bytes: 4096 * 1024, max_msgs: -1 });
  assert.equal(eventsBound(4096 * 1024, '2.9.10'), { max_bytes: -1, max_msgs: 4096 * 1024 / BYTES_PER_EVENT_BOUND });
  assert.equal(eventsBound(-1, '2.9.10'), { max_bytes: -1, max_msgs: -1 });
});

test('fill: the larger share of either bound; 0 when unbounded', () => {
  assert.is(fill({ bytes: 50, maxBytes: 100, stored: 9, maxMessages: -1 }), 0.5);
  assert.is(fill({ bytes: 50, maxBytes: -1, stored: 9, maxMessages: 10 }), 0.9);
  assert.is(fill({ bytes: 50, maxBytes: -1, stored: 9, maxMessages: -1 }), 0);
});

test('a full stream is recognised in js.publish errors (description in api_error) and raw acknowledgements', () => {
  assert.ok(isStreamFullError(Object.assign(new Error('503'), { code: '503', api_error: { code: 503, err_code: 10077, description: 'maximum bytes exceeded' } })));
  assert.ok(isStreamFullError('maximum messages exceeded (503)'));
  assert.not.ok(isStreamFullError(Object.assign(new Error('503'), { code: '503' })));
  assert.not.ok(isStreamFullError(new Error('TIMEOUT')));
});

test.run();
