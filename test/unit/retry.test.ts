import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { retrying, type RetryPolicy } from '../../core/index.js';
import { isTransientNatsError } from '../../engine/ingest/index.js';

const timeout = () => Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' });

const policy = (waits: number[], over: Partial<RetryPolicy> = {}): RetryPolicy => ({
  retryable: isTransientNatsError,
  attempts: 5,
  baseMs: 100,
  maxMs: 300,
  sleep: async (ms) => void waits.push(ms),
  ...over,
});

test('retrying: a transient failure is tried again with exponential waits capped at maxMs', async () => {
  const waits: number[] = [];
  let calls = 0;
  const got = await retrying(async () => {
    if (++calls < 4) throw timeout();
    return 'opened';
  }, policy(waits));
  assert.is(got, 'opened');
  assert.is(calls, 4);
  assert.equal(waits, [100, 200, 300]);
});

test('retrying: an error that is not retryable is thrown at once', async () => {
  const waits: number[] = [];
  let calls = 0;
  const err = await retrying(async () => {
    calls++;
    throw new Error('stream name already in use with a different configuration');
  }, policy(waits)).catch((e: Error) => e);
  assert.match((err as Error).message, /already in use/);
  assert.is(calls, 1);
  assert.equal(waits, []);
});

test('retrying: the last transient error is thrown once the attempts run out, or once aborted', async () => {
  let calls = 0;
  const err = await retrying(async () => {
    calls++;
    throw timeout();
  }, policy([])).catch((e: Error) => e);
  assert.is((err as { code?: string }).code, 'TIMEOUT');
  assert.is(calls, 5);

  const stop = new AbortController();
  calls = 0;
  await retrying(async () => {
    if (++calls === 2) stop.abort();
    throw timeout();
  }, policy([], { signal: stop.signal })).catch(() => undefined);
  assert.is(calls, 2, 'no attempt after the abort');
});

test('isTransientNatsError: timeouts, no responders and an unavailable JetStream, not other API errors', () => {
  assert.ok(isTransientNatsError(timeout()));
  assert.ok(isTransientNatsError(Object.assign(new Error('503'), { code: '503' })));
  // As nats.js throws a JetStream API refusal: the status as its code, the server's error beside it.
  assert.ok(isTransientNatsError(Object.assign(new Error('jetstream system temporarily unavailable'), { code: '503', api_error: { code: 503, err_code: 10008 } })));
  assert.not.ok(isTransientNatsError(Object.assign(new Error('stream not found'), { code: '404', api_error: { code: 404, err_code: 10059 } })));
  assert.not.ok(isTransientNatsError(undefined));
});

test.run();
