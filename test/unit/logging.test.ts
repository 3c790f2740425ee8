import { Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createIngestSummary, createLogger, urlOf, type IngestTotals } from '../../logging.js';
import { configFromEnv } from '../../config.js';

const sink = () => {
  const chunks: string[] = [];
  const stream = new Writable({ write: (c, _e, done) => void (chunks.push(String(c)), done()) });
  return { stream, text: () => chunks.join('') };
};

test('JSON lines carry ISO-8601 times, not epoch milliseconds', () => {
  const out = sink();
  createLogger({ level: 'info', format: 'json', base: { ns: 'demo' }, destination: out.stream }).info({ n: 1 }, 'hello');
  const line = JSON.parse(out.text());
  assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal([line.msg, line.ns, line.n], ['hello', 'demo', 1]);
});

test('pretty lines: time, level, module and message first, fields after, one line each', () => {
  const out = sink();
  const log = createLogger({ level: 'info', format: 'pretty', base: { ns: 'demo', module: 'engine' }, isTTY: false, destination: out.stream });
  log.info({ events: 10 }, 'ingest summary');
  log.debug('not shown');
  const lines = out.text().trimEnd().split('\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[engine\] ingest summary \{"events":10\}$/);
});

test('auto is pretty on a terminal and JSON elsewhere', () => {
  for (const isTTY of [true, false]) {
    const out = sink();
    createLogger({ level: 'info', format: 'auto', isTTY, destination: out.stream }).info('x');
    assert.is(out.text().startsWith('{'), !isTTY);
  }
});

test('LOG_FORMAT is one of auto, pretty, json; LOG_SUMMARY_INTERVAL a duration', () => {
  assert.is(configFromEnv({}).logFormat, 'auto');
  assert.is(configFromEnv({ LOG_FORMAT: 'json' }).logFormat, 'json');
  assert.throws(() => configFromEnv({ LOG_FORMAT: 'yaml' }), /LOG_FORMAT: expected auto, pretty, json, got "yaml"/);
  assert.is(configFromEnv({}).logSummaryMs, 60_000);
  assert.is(configFromEnv({ LOG_SUMMARY_INTERVAL: 'PT0S' }).logSummaryMs, 0);
});

test('the ingest summary tells what happened since the last one, and nothing when quiet', async () => {
  const lines: { o: Record<string, unknown>; msg: string }[] = [];
  const log = { info: (o: Record<string, unknown>, msg: string) => lines.push({ o, msg }) } as never;
  let t = 0;
  let totals: IngestTotals = { events: 500, deadLetters: { invalid_json: 2 }, lag: undefined };
  const summary = createIngestSummary(log, async () => totals, () => t);
  await summary(); // the starting point: nothing to tell yet
  t += 60_000;
  await summary(); // quiet: no line
  assert.equal(lines, []);
  totals = { events: 6_500, deadLetters: { invalid_json: 5, time_in_future: 1 }, lag: 40 };
  t += 60_000;
  await summary();
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.o, { events: 6_000, perSecond: 100, lag: 40, deadLetters: { invalid_json: 3, time_in_future: 1 }, seconds: 60 });
  assert.is(lines[0]!.msg, 'ingest: 6000 events in 60 s (100/s), lag 40 messages, dead letters: 3 invalid_json, 1 time_in_future');
  totals = { ...totals, lag: 12 };
  t += 60_000;
  await summary(); // no new events, but a lag: still told
  assert.is(lines[1]!.msg, 'ingest: 0 events in 60 s (0/s), lag 12 messages, dead letters: none');
});

test('start-up URLs a person can open', () => {
  assert.is(urlOf('0.0.0.0', 8080, '/docs'), 'http://127.0.0.1:8080/docs');
  assert.is(urlOf('::', 8080, '/'), 'http://[::1]:8080/');
  assert.is(urlOf('::1', 9100, '/metrics'), 'http://[::1]:9100/metrics');
  assert.is(urlOf('10.0.0.5', 80, '/'), 'http://10.0.0.5:80/');
});

test.run();
