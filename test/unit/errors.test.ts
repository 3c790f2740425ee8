import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { NatsError } from 'nats';
import { ReplyError } from 'ioredis';
import { ClickHouseError } from '@clickhouse/client';
import {
  DecodeError, DurationError, FilterError, IllegalTransitionError, LimitError, SourceNotFoundError, StreamFullError, TierstreamError, UnpublishableNoticeError,
} from '../../core/index.js';
import { JS_ERR, isJsAlreadyExists, isJsNotFound, isTransientNatsError } from '../../storage/nats/index.js';
import { HistoryLayoutError } from '../../storage/clickhouse/history.js';
import { ApiError, isStoreUnavailable } from '../../api/errors.js';
import { ApiKeyError } from '../../api/auth.js';
import { LookupError } from '../../engine/lookup/index.js';
import { ErasureError } from '../../engine/erasures/index.js';
import { HistoryWriteError, WriteFailedError } from '../../engine/ingest/batch-writer.js';
import { ConfigError } from '../../config.js';
import { RemovalError, TierError } from '../../engine/tiers/index.js';
import { EventRejectedError, PublishError, TierstreamError as ProducerTierstreamError } from '../../producer/index.js';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
/** The product's sources: its rooms, the producer library and the composition root's files. */
const PRODUCT_DIRS = ['core', 'engine', 'storage', 'api', 'client', 'producer'];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Every class the product declares that extends a class named `Error` or `...Error`, parsed (not grepped): its name and what it extends. */
function errorClasses(): { name: string; base: string; file: string }[] {
  const files = [
    ...readdirSync(root).filter((n) => n.endsWith('.ts')).map((n) => join(root, n)),
    ...PRODUCT_DIRS.flatMap((d) => tsFiles(join(root, d))),
  ];
  return files.flatMap((file) => {
    const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const found: { name: string; base: string; file: string }[] = [];
    const visit = (node: ts.Node): void => {
      if (ts.isClassLike(node) && node.heritageClauses) {
        for (const clause of node.heritageClauses) {
          if (clause.token !== ts.SyntaxKind.ExtendsKeyword) continue;
          const base = clause.types[0]!.expression.getText(src);
          if (/(^|\.)\w*Error$/.test(base)) found.push({ name: node.name?.text ?? '(anonymous)', base, file: relative(root, file) });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(src);
    return found;
  });
}

/** A JetStream API refusal as nats.js throws it: the status as its code, the server's error as api_error. */
const jsRefusal = (status: number, errCode: number, description: string) =>
  Object.assign(new NatsError(description, String(status)), { api_error: { code: status, err_code: errCode, description } });

test('every error class is a TierstreamError with a stable code, its own name and the cause it was given', () => {
  const cause = new Error('underneath');
  const errors: [TierstreamError, string][] = [
    [new DecodeError('invalid_json', 'x', { cause }), 'invalid_json'],
    [new DurationError('x', { cause }), 'invalid_duration'],
    [new FilterError('filter.and[0]', 'x', { cause }), 'invalid_filter'],
    [new IllegalTransitionError('hot', 'restoring', undefined, { cause }), 'illegal_transition'],
    [new LimitError('filters', 10, 'x', { cause }), 'too_many_filters'],
    [new SourceNotFoundError(['campaign:A'], { cause }), 'source_not_found'],
    [new UnpublishableNoticeError('x', { cause }), 'invalid_subject'],
    [new StreamFullError('x', { cause }), 'stream_full'],
    [new HistoryLayoutError('x', { cause }), 'history_layout_mismatch'],
    [new ApiError('not_ready', 'x', {}, { cause }), 'not_ready'],
    [new ApiKeyError('x', { cause }), 'invalid_api_keys'],
    [new LookupError('source_expired', 'x', ['campaign:A'], { cause }), 'source_expired'],
    [new ErasureError('x', { cause }), 'erasure_not_found'],
    [new HistoryWriteError(cause), 'history_write_failed'],
    [new WriteFailedError('x', { cause }), 'write_failed'],
    [new TierError('transition_in_progress', 'x', { cause }), 'transition_in_progress'],
    [new RemovalError('source_pinned', 'x', { pinnedBy: ['f1'] }, { cause }), 'source_pinned'],
    [new ConfigError('x', { cause }), 'invalid_config'],
    [new EventRejectedError([{ index: 0, id: 'e1', code: 'invalid_json', message: 'x' }], { cause }), 'invalid_json'],
    [new PublishError('timeout', 'e1', 'x', { cause }), 'timeout'],
  ];
  for (const [err, code] of errors) {
    assert.ok(err instanceof TierstreamError, err.name);
    assert.ok(err instanceof Error, err.name);
    assert.type(err.code, 'string', err.name);
    assert.is(err.code, code, err.name);
    assert.is(err.name, err.constructor.name);
    assert.is(err.cause, cause, `${err.name} passes its cause through`);
  }
  // Every error class the product declares is in the table above, and extends TierstreamError (directly or through another of them).
  const declared = errorClasses();
  assert.equal(declared.map((c) => c.name).sort(), [...errors.map(([err]) => err.name), 'TierstreamError'].sort(), 'the table lists every error class of the product');
  assert.equal(declared.filter((c) => c.base === 'Error').map((c) => `${c.file}: ${c.name}`), ['core/errors.ts: TierstreamError'], 'only TierstreamError extends Error');
  // The producer's package hands out the same base class.
  assert.is(ProducerTierstreamError, TierstreamError);
  // Messages are the ones callers and the API always had.
  assert.is(new PublishError('stream_full', 'e1', 'full').message, 'publish of e1 failed: stream_full: full');
  assert.is(new EventRejectedError([{ index: 2, id: 'e3', code: 'invalid_json', message: 'x' }, { index: 3, id: undefined, code: 'invalid_field', message: 'y' }]).message,
    'event 2 (e3) rejected: invalid_json: x (and 1 more)');
  assert.equal(new RemovalError('source_has_events', 'x', { events: 3 }).detail, { events: 3 });
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
