import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, startStack } from './helpers.js';

/**
 * Lookups that queue make ingest yield: the API side publishes on the namespace's pressure
 * subject while lookups (or its event loop) run later than TIERSTREAM_LOOKUP_TARGET_MS, and
 * background writers hear it and send one hot-index call at a time.
 */
test('a stalled API event loop is heard as lookup pressure while lookups come in; an idle or stalled one without lookups is not', async () => {
  const stack = await startStack(undefined, {}, { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT1S', TIERSTREAM_LOOKUP_TARGET_MS: '50' });
  try {
    const signals = async () => Number((await stack.ts.metrics.lookupPressure.get()).values[0]?.value ?? 0);
    const stall = async () => {
      const until = performance.now() + 150;
      while (performance.now() < until) { /* busy */ }
      await new Promise((r) => setTimeout(r, 250));
    };
    const lookup = () => stack.ts.app.inject({ method: 'POST', url: '/v1/retargeting/check', payload: { filter: { campaign: 'none', event: 'send' }, userIds: ['u1'] } });
    await new Promise((r) => setTimeout(r, 500));
    assert.is(await signals(), 0, 'no pressure while idle');
    // A stalled loop with no lookup to delay (an idle API waiting for a core) says nothing.
    for (let i = 0; i < 4; i++) await stall();
    assert.is(await signals(), 0, 'no pressure from stalls without lookups');
    // 150 ms of work on the API's event loop while lookups arrive: they wait that long.
    // Repeated, so a sample that falls between two readings is not all we have.
    await eventually(async () => {
      const answered = lookup();
      await stall();
      await answered;
      return (await signals()) > 0;
    }, 'pressure heard', 10_000);
    const before = await signals();
    await new Promise((r) => setTimeout(r, 500));
    const quiet = await signals();
    assert.ok(quiet - before <= 1, `quiet after the stall (${quiet - before} more)`);
  } finally {
    await stack.stop();
  }
});

test.run();
