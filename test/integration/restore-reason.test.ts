import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, send, startStack } from './helpers.js';

/**
 * A restore caused by a filter naming a source by id, heard of from another process (here: the
 * filter written straight into the store, as another process's registration arrives), says
 * which filter pinned it, and not "(tag)" (issue 22, finding 11).
 */
test('a restore by a filter naming the source by id, heard of from elsewhere, names the filter, not a tag', async () => {
  const stack = await startStack();
  try {
    await stack.publish([{ id: 'rr-1', type: 'send', userId: 'u1', campaignId: 'rr', time: 1_000 }]);
    await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/rr')).body.counts?.history === 1, 'ingested');
    await send(stack.ts, 'POST', '/v1/campaigns/rr/demote');
    await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/rr')).body.tier === 'expired', 'expired');
    const id = 'by-id';
    await stack.ts.filterStore.update(Buffer.from(id, 'utf8').toString('base64url'), () => ({
      id, filter: { campaign: 'rr', event: 'send' }, sources: ['campaign:rr'], tags: [], updatedAt: Date.now(),
    }));
    const state = await eventually(async () => {
      const b = (await getJson(stack.ts, '/v1/campaigns/rr')).body;
      return b.transitions.some((t: { tier: string }) => t.tier === 'restoring') ? b : undefined;
    }, 'restoring');
    const reason = state.transitions.find((t: { tier: string }) => t.tier === 'restoring').reason as string;
    assert.is(reason, 'pinned by filter by-id');
  } finally {
    await stack.stop();
  }
});

test.run();
