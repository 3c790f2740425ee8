import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { keySlot } from '../../storage/redis/slots.js';

test('hash slots equal what CLUSTER KEYSLOT answers (values read from Redis 7.0)', () => {
  const expected: [string, number][] = [
    ['foo', 12182], ['{campaign:rA}', 2470], ['{canvas:rC}', 10297], ['a{}b', 13694],
    ['x{y}z{w}', 12222], ['{}{q}', 13857], ['héllo', 11061], ['123456789', 12739],
  ];
  for (const [key, slot] of expected) assert.is(keySlot(key), slot, key);
});

test('every key of a source shares its tag slot', () => {
  assert.is(keySlot('ns:{campaign:A}:tier'), keySlot('{campaign:A}'));
  assert.is(keySlot('ns:{campaign:A}:i:v:B:send'), keySlot('campaign:A'));
});

test.run();
