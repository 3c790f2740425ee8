/**
 * The short version of every fault scenario (test/faults/scenarios.ts), as one test each:
 * the checker's numbers must all be zero and the scenario's own assertions hold.
 * `npm run test:faults` runs the full-size versions and prints the table.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { all } from './scenarios.js';
import { clean } from './harness.js';

for (const { id, run } of all('short')) {
  test(`fault scenario ${id}`, async () => {
    const v = await run();
    const summary = `${v.scenario}: lost ${v.lost}, unexpected ${v.unexpected}, duplicates ${v.duplicates}, hot mismatches ${v.hotMismatches}; ${v.failures.join('; ')}`;
    assert.ok(clean(v), summary);
    assert.ok(v.events > 0, `${v.scenario}: the checker saw events`);
  });
}

test.run();
