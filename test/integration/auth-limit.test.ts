import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AddressInfo } from 'node:net';
import { startStack } from './helpers.js';

/** 401 and 403 answers count against the client address's rate limit (issue 22, finding 11). */
test('refused requests are rate limited per client address: 401 and 403 alike', async () => {
  const stack = await startStack(undefined, {}, { TIERSTREAM_API_KEYS: 'limit-lookup-0123456789:lookup', TIERSTREAM_RATE_LIMIT: '5' });
  try {
    // Real sockets: through inject the in-memory store limits every request.
    await stack.ts.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(stack.ts.app.server.address() as AddressInfo).port}/v1/campaigns/a/demote`;
    const burst = async (authorization: string) => {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await fetch(url, { method: 'POST', headers: { authorization } })).status);
      return statuses;
    };
    const wrong = await burst('Bearer not-a-key-0123456789');
    assert.is(wrong.filter((s) => s === 401).length, 5, String(wrong));
    assert.is(wrong.filter((s) => s === 429).length, 7, String(wrong));
    await new Promise((r) => setTimeout(r, 1_100)); // the next window
    // A known key without the scope: counted against the address too.
    const forbidden = await burst('Bearer limit-lookup-0123456789');
    assert.is(forbidden.filter((s) => s === 403).length, 5, String(forbidden));
    assert.is(forbidden.filter((s) => s === 429).length, 7, String(forbidden));
  } finally {
    await stack.stop();
  }
});

test.run();
