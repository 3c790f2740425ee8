import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDeadLetterLog } from '../../engine/ingest/dead-letter-log.js';

test('a log line per dead-letter code at most every period, counting the letters in between', () => {
  const lines: { code: string; count: number }[] = [];
  const log = { warn: (o: { code: string; count: number }) => lines.push({ code: o.code, count: o.count }) } as never;
  let t = 1_000_000;
  const letter = createDeadLetterLog(log, 5_000, () => t);
  for (let i = 0; i < 100; i++) letter('invalid_json', 'ns.events.send', 'bad');
  letter('invalid_time', 'ns.events.send', 'bad');
  t += 4_999;
  letter('invalid_json', 'ns.events.send', 'bad');
  assert.equal(lines, [{ code: 'invalid_json', count: 1 }, { code: 'invalid_time', count: 1 }]);
  t += 1;
  letter('invalid_json', 'ns.events.send', 'bad');
  assert.equal(lines[2], { code: 'invalid_json', count: 101 });
});

test.run();
