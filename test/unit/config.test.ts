import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configFromEnv, ConfigError, fixedDurationMs } from '../../config.js';
import { addDuration, parseDuration } from '../../core/index.js';
import { sqlString, sqlIdent, sqlInt } from '../../storage/clickhouse/sql.js';
import { parseSources } from '../../api/index.js';
import { ApiError } from '../../api/errors.js';

test('durations: calendar months clamp to the end of the month', () => {
  const p3m = parseDuration('P3M')!;
  assert.is(addDuration(Date.UTC(2025, 10, 30), p3m), Date.UTC(2026, 1, 28));
  assert.is(addDuration(Date.UTC(2027, 10, 30), p3m), Date.UTC(2028, 1, 29)); // leap year
  assert.is(addDuration(Date.UTC(2026, 0, 31, 12), parseDuration('P1M')!), Date.UTC(2026, 1, 28, 12));
  assert.is(addDuration(0, parseDuration('PT2S')!), 2_000);
  assert.is(addDuration(0, parseDuration('P1DT0.5S')!), 86_400_500);
  assert.is(fixedDurationMs('PT0.5S', 'X'), 500);
  for (const bad of ['P', 'PT', '3M', 'P1.5M', 'PT1H2', 'p3m']) assert.is(parseDuration(bad), undefined, bad);
  assert.throws(() => fixedDurationMs('P1M', 'TIER_SCAN_INTERVAL'), /TIER_SCAN_INTERVAL/);
});

test('configuration: defaults of the contract, errors name the variable', () => {
  const c = configFromEnv({});
  assert.equal(c.natsServers, ['nats://127.0.0.1:4222']);
  assert.is(c.redisUrl, 'redis://127.0.0.1:6379');
  assert.is(c.clickhouseUrl, 'http://127.0.0.1:8123');
  assert.is(c.namespace, 'tierstream');
  assert.is(c.host, '127.0.0.1');
  assert.is(c.port, 8080);
  assert.is(c.tierExpireAfter, 'P3M');
  assert.is(c.tierScanIntervalMs, 60_000);
  assert.is(c.maxFutureMs, 86_400_000);
  assert.is(configFromEnv({ TIERSTREAM_MAX_FUTURE: 'PT1H' }).maxFutureMs, 3_600_000);
  assert.throws(() => configFromEnv({ TIERSTREAM_MAX_FUTURE: 'P1M' }), /TIERSTREAM_MAX_FUTURE/);
  assert.is(c.role, 'all');
  assert.equal(configFromEnv({ NATS_URL: 'nats://a:1, nats://b:2' }).natsServers, ['nats://a:1', 'nats://b:2']);
  for (const [name, value] of [
    ['TIERSTREAM_NAMESPACE', 'Bad-NS'], ['TIERSTREAM_NAMESPACE', 'a'.repeat(33)], ['PORT', 'x'], ['TIERSTREAM_ROLE', 'both'],
    ['TIER_EXPIRE_AFTER', '3 months'], ['TIER_SCAN_INTERVAL', 'soon'],
  ] as const) {
    assert.throws(() => configFromEnv({ [name]: value }), (e: Error) => e instanceof ConfigError && e.message.startsWith(name), name);
  }
});

test('configuration: cumulative acks with one ingest process, explicit with several, never cumulative with several', () => {
  assert.is(configFromEnv({}).ingestAck, 'cumulative');
  assert.is(configFromEnv({}).streamReplicas, 1);
  assert.is(configFromEnv({ TIERSTREAM_STREAM_REPLICAS: '3' }).streamReplicas, 3);
  assert.throws(() => configFromEnv({ TIERSTREAM_STREAM_REPLICAS: '7' }), /TIERSTREAM_STREAM_REPLICAS/);
  assert.is(configFromEnv({ TIERSTREAM_ENGINE_PROCESSES: '2' }).ingestAck, 'explicit');
  assert.is(configFromEnv({ TIERSTREAM_INGEST_ACK: 'explicit' }).ingestAck, 'explicit');
  assert.throws(() => configFromEnv({ TIERSTREAM_ENGINE_PROCESSES: '2', TIERSTREAM_INGEST_ACK: 'cumulative' }), /TIERSTREAM_INGEST_ACK=cumulative allows one/);
  assert.throws(() => configFromEnv({ TIERSTREAM_INGEST_ACK: 'all' }), (e: Error) => e instanceof ConfigError && /TIERSTREAM_INGEST_ACK/.test(e.message));
});

test('configuration: a ClickHouse cluster lists every node, and several nodes need the cluster', () => {
  assert.is(configFromEnv({}).clickhouseCluster, undefined);
  const c = configFromEnv({ CLICKHOUSE_URL: 'http://a:8123, http://b:8123', CLICKHOUSE_CLUSTER: 'tierstream' });
  assert.is(c.clickhouseUrl, 'http://a:8123,http://b:8123');
  assert.is(c.clickhouseCluster, 'tierstream');
  assert.is(configFromEnv({ CLICKHOUSE_URL: 'http://a:8123', CLICKHOUSE_CLUSTER: '' }).clickhouseCluster, undefined);
  assert.throws(() => configFromEnv({ CLICKHOUSE_URL: 'http://a:8123,http://b:8123' }), /CLICKHOUSE_URL: several endpoints need CLICKHOUSE_CLUSTER/);
  assert.throws(() => configFromEnv({ CLICKHOUSE_CLUSTER: "x'y" }), /CLICKHOUSE_CLUSTER/);
});

test('configuration: named limits, their defaults and bounds (docs/operating.md, "Limits")', () => {
  assert.equal(configFromEnv({}).limits, { variantsAndStepsPerSource: 1_000, sources: 1_000_000, filters: 10_000, tagsPerSource: 64, linkAliases: 10_000 });
  const set = configFromEnv({ TIERSTREAM_MAX_VARIANTS_AND_STEPS: '8', TIERSTREAM_MAX_SOURCES: '10', TIERSTREAM_MAX_FILTERS: '2', TIERSTREAM_MAX_TAGS: '3', TIERSTREAM_MAX_LINK_ALIASES: '4' }).limits;
  assert.equal(set, { variantsAndStepsPerSource: 8, sources: 10, filters: 2, tagsPerSource: 3, linkAliases: 4 });
  // A source's ids are one KV document: at most 5,000 keep it under NATS's 1 MiB payload.
  for (const [name, value] of [['TIERSTREAM_MAX_VARIANTS_AND_STEPS', '5001'], ['TIERSTREAM_MAX_TAGS', '1001'], ['TIERSTREAM_MAX_LINK_ALIASES', '30001'], ['TIERSTREAM_MAX_SOURCES', '0'], ['TIERSTREAM_MAX_FILTERS', 'many']]) {
    assert.throws(() => configFromEnv({ [name!]: value }), (e: Error) => e instanceof ConfigError && e.message.startsWith(name!), name);
  }
});

test('configuration: TIERSTREAM_METRICS_LISTEN is host:port (a v6 host in brackets); unset by default', () => {
  assert.is(configFromEnv({}).metricsListen, undefined);
  assert.is(configFromEnv({ TIERSTREAM_METRICS_LISTEN: '' }).metricsListen, undefined);
  assert.equal(configFromEnv({ TIERSTREAM_METRICS_LISTEN: '0.0.0.0:9464' }).metricsListen, { host: '0.0.0.0', port: 9464 });
  assert.equal(configFromEnv({ TIERSTREAM_METRICS_LISTEN: 'metrics.internal:9100' }).metricsListen, { host: 'metrics.internal', port: 9100 });
  assert.equal(configFromEnv({ TIERSTREAM_METRICS_LISTEN: '[::1]:9464' }).metricsListen, { host: '::1', port: 9464 });
  for (const bad of ['9464', ':9464', 'host:', 'host:99999', 'host:port', '::1:9464', 'a b:1', 'http://h:1']) {
    assert.throws(() => configFromEnv({ TIERSTREAM_METRICS_LISTEN: bad }), (e: Error) => e instanceof ConfigError && e.message.startsWith('TIERSTREAM_METRICS_LISTEN'), bad);
  }
});

test('configuration: the events stream bound and the backlog threshold (TIERSTREAM_EVENTS_MAX_BYTES, TIERSTREAM_BACKLOG_MAX)', () => {
  const c = configFromEnv({});
  assert.is(c.eventsMaxBytes, 4 * 1024 ** 3);
  assert.is(c.backlogMax, 5_000_000);
  assert.is(configFromEnv({ TIERSTREAM_EVENTS_MAX_BYTES: '512MiB' }).eventsMaxBytes, 512 * 1024 ** 2);
  assert.is(configFromEnv({ TIERSTREAM_EVENTS_MAX_BYTES: '2 GiB' }).eventsMaxBytes, 2 * 1024 ** 3);
  assert.is(configFromEnv({ TIERSTREAM_EVENTS_MAX_BYTES: '1048576' }).eventsMaxBytes, 1_048_576);
  assert.is(configFromEnv({ TIERSTREAM_EVENTS_MAX_BYTES: '-1' }).eventsMaxBytes, -1);
  for (const bad of ['0', '1000', '4GB', '1.5GiB', 'lots']) {
    assert.throws(() => configFromEnv({ TIERSTREAM_EVENTS_MAX_BYTES: bad }), (e: Error) => e instanceof ConfigError && /TIERSTREAM_EVENTS_MAX_BYTES/.test(e.message), bad);
  }
  assert.is(configFromEnv({ TIERSTREAM_BACKLOG_MAX: '0' }).backlogMax, 0);
  assert.throws(() => configFromEnv({ TIERSTREAM_BACKLOG_MAX: '-1' }), /TIERSTREAM_BACKLOG_MAX/);
});

test('SQL quoting: one escaping function makes any text a literal', () => {
  assert.is(sqlString("o'brien"), "'o\\'brien'");
  assert.is(sqlString('a\\b'), "'a\\\\b'");
  assert.is(sqlString("x'; DROP TABLE t; --"), "'x\\'; DROP TABLE t; --'");
  assert.is(sqlString('l1\nl2\t\0'), "'l1\\nl2\\t\\0'");
  assert.is(sqlIdent('tierstream_1'), 'tierstream_1');
  assert.throws(() => sqlIdent('a;b'));
  assert.throws(() => sqlIdent('A'));
  assert.throws(() => sqlInt(1.5));
});

test('user lookup sources: campaign:<id> or canvas:<id>, deduplicated', () => {
  assert.equal(parseSources('campaign:A,canvas:C:1,campaign:A'), [
    { kind: 'campaign', id: 'A' },
    { kind: 'canvas', id: 'C:1' },
  ]);
  for (const bad of ['A', 'segment:A', 'campaign:', "campaign:a'b", 'campaign:*', 'campaign:{x}', 'campaign:A,']) {
    assert.throws(() => parseSources(bad), (e: Error) => e instanceof ApiError && e.code === 'invalid_request', bad);
  }
});

test.run();
