import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NatsError } from 'nats';
import { ReplyError } from 'ioredis';
import { ClickHouseError } from '@clickhouse/client';
import {
  DecodeError, DurationError, FilterError, IllegalTransitionError, LimitError, SourceNotFoundError, TierstreamError, UnpublishableNoticeError,
} from '../../core/index.js';
import { JS_ERR, isJsAlreadyExists, isJsNotFound, isTransientNatsError } from '../../storage/nats/index.js';
import { HistoryLayoutError } from '../../storage/clickhouse/history.js';
import { ApiError, isStoreUnavailable } from '../../api/errors.js';
import { ApiKeyError } from '../../api/auth.js';
import { LookupError } from '../../engine/lookup/index.js';
import { ErasureError } from '../../engine/erasures/index.js';
import { HistoryWriteError, WriteFailedError } from '../../engine/ingest/batch-writer.js';
import { ConfigError } from '../../config.js';

/** A JetStream API refusal as nats.js throws it: the status as its code, the server's error as api_error. */
const jsRefusal = (status: number, errCode: number, description: string) =>
  Object.assign(new NatsError(description, String(status)), { api_error: { code: status, err_code: errCode, description } });

test('every error class is a TierstreamError with a stable code, its own name and the cause it was given', () => {
  const cause = new Error('underneath');
  const errors: [TierstreamError, string][] = [
    [new DecodeError('invalid_json', 'x'), 'invalid_json'],
    [new DurationError('x', { cause }), 'invalid_duration'],
    [new FilterError('filter.and[0]', 'x', { cause }), 'invalid_filter'],
    [new IllegalTransitionError('hot', 'restoring'), 'illegal_transition'],
    [new LimitError('filters', 10, 'x'), 'too_many_filters'],
    [new SourceNotFoundError(['campaign:A']), 'source_not_found'],
    [new UnpublishableNoticeError('x', { cause }), 'invalid_subject'],
    [new HistoryLayoutError('x', { cause }), 'history_layout_mismatch'],
    [new ApiError('not_ready', 'x', {}, { cause }), 'not_ready'],
    [new ApiKeyError('x', { cause }), 'invalid_api_keys'],
    [new LookupError('source_expired', 'x', ['campaign:A'], { cause }), 'source_expired'],
    [new ErasureError('x', { cause }), 'erasure_not_found'],
    [new HistoryWriteError(cause), 'history_write_failed'],
    [new WriteFailedError('x', { cause }), 'write_failed'],
    [new ConfigError('x', { cause }), 'invalid_config'],
  ];
  for (const [err, code] of errors) {
    assert.ok(err instanceof TierstreamError, err.name);
    assert.is(err.code, code, err.name);
    assert.is(err.name, err.constructor.name);
    if (err.cause !== undefined) assert.is(err.cause, cause, err.name);
  }
  assert.is(new HistoryWriteError(cause).cause, cause, 'a history write failure carries the store\'s error');
  assert.is(new HistoryWriteError(cause).message, 'underneath');
});

test('JetStream refusals are told by the server\'s err_code, not by their message', () => {
  assert.ok(isJsNotFound(jsRefusal(404, JS_ERR.streamNotFound, 'stream not found')));
  assert.ok(isJsNotFound(jsRefusal(404, JS_ERR.noMessageFound, 'no message found')));
  assert.ok(isJsNotFound(jsRefusal(404, JS_ERR.consumerNotFound, 'consumer not found')));
  assert.not.ok(isJsNotFound(new Error('subject not found in the account')), 'a message alone is no refusal');
  assert.not.ok(isJsNotFound(jsRefusal(400, JS_ERR.streamNameExists, 'stream name already in use')));

  assert.ok(isJsAlreadyExists(jsRefusal(400, JS_ERR.streamNameExists, 'stream name already in use with a different configuration')));
  assert.ok(isJsAlreadyExists(jsRefusal(400, JS_ERR.consumerAlreadyExists, 'consumer already exists')));
  assert.ok(isJsAlreadyExists(jsRefusal(400, JS_ERR.consumerNameExists, 'consumer name already in use')));
  assert.not.ok(isJsAlreadyExists(jsRefusal(500, 10012, 'ack policy can not be updated')));
  assert.not.ok(isJsAlreadyExists(new Error('file exists')), 'a message alone is no refusal');
});

test('isTransientNatsError: timeouts, no responders, JetStream unavailable or short of peers, by code', () => {
  assert.ok(isTransientNatsError(NatsError.errorForCode('TIMEOUT' as never)));
  assert.ok(isTransientNatsError(new NatsError('503', '503')), 'no responders');
  assert.ok(isTransientNatsError(jsRefusal(503, JS_ERR.clusterNotAvailable, 'jetstream system temporarily unavailable')));
  assert.ok(isTransientNatsError(jsRefusal(500, JS_ERR.noSuitablePeers, 'no suitable peers for placement')));
  assert.not.ok(isTransientNatsError(jsRefusal(404, JS_ERR.streamNotFound, 'stream not found')));
  assert.not.ok(isTransientNatsError(new Error('request timeout')), 'a message alone says nothing');
  assert.not.ok(isTransientNatsError(undefined));
});

test('isStoreUnavailable: by the clients\' codes and classes, messages only where a client gives no code', () => {
  // @clickhouse/client's own error, from a server that marks its errors with a type.
  assert.ok(isStoreUnavailable(new ClickHouseError({ message: 'Connection refused (ch2:9000)', code: '210', type: 'NETWORK_ERROR' })));
  assert.ok(isStoreUnavailable(new ClickHouseError({ message: 'shard 2 away', code: '279', type: 'ALL_CONNECTION_TRIES_FAILED' })));
  assert.not.ok(isStoreUnavailable(new ClickHouseError({ message: 'Database x doesn\'t exist', code: '81', type: 'UNKNOWN_DATABASE' })));
  // ClickHouse 18.16: no type marker, so the client gives a plain Error.
  assert.ok(isStoreUnavailable(new Error('Code: 279, e.displayText() = DB::NetException: All connection tries failed. Log: ...')));
  assert.not.ok(isStoreUnavailable(new Error('Code: 81, e.displayText() = DB::Exception: Database x doesn\'t exist')));
  // Redis: the reply's first word is its code.
  assert.ok(isStoreUnavailable(new ReplyError('CLUSTERDOWN The cluster is down')));
  assert.not.ok(isStoreUnavailable(new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')));
  assert.not.ok(isStoreUnavailable(new ReplyError('ERR unknown command, did you mean CLUSTERDOWN?')));
  assert.ok(isStoreUnavailable(new Error('Connection is closed.')));
  assert.ok(isStoreUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' })));
  assert.ok(isStoreUnavailable(new HistoryWriteError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))), 'through the cause');
  assert.not.ok(isStoreUnavailable(new Error('unexpected ECONNREFUSED-like text in a bug')));
});

test.run();
