import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { foldEvents, sourceName, type InteractionEvent, type SourceRef } from '../../core/index.js';
import { natsNames } from '../../storage/nats/index.js';
import { createTierstream } from '../../runtime.js';
import type { EngineOptions } from '../../engine/ingest/index.js';
import type { TierManagerOptions } from '../../engine/tiers/index.js';
import { eventually, getJson, hotState, historyFold, send, startStack, testConfig, testNamespace, TEST_ENGINE, type Stack } from './helpers.js';

/** Erasure of a user (contract: "Erasure of a user"): gone from every answer, and stays gone. */
const test = suite('erasure');
const SLOW_TIERS = { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT0.2S' };
const USERS = ['u1', 'u2', 'u3', 'u4'];
const TYPES = ['send', 'open', 'click'] as const;
const SOURCES = ['campaign:e1', 'campaign:e2', 'canvas:ec'];

interface Ev { id: string; type: string; userId: string; time: number; campaignId?: string; canvasId?: string; variantId?: string; stepId?: string }
const srcOf = (e: Ev) => (e.campaignId ? { kind: 'campaign' as const, id: e.campaignId } : { kind: 'canvas' as const, id: e.canvasId! });

/** 120 events over three sources and four users, with variants and steps. */
function events(prefix: string, t0: number): Ev[] {
  return Array.from({ length: 120 }, (_, i) => {
    const src = SOURCES[i % 3]!;
    const [kind, id] = src.split(':');
    return {
      id: `${prefix}-${i}`, type: TYPES[i % 3]!, userId: USERS[Math.floor(i / 3) % 4]!, time: t0 + i,
      ...(kind === 'campaign' ? { campaignId: id, variantId: `v${i % 2}` } : { canvasId: id, stepId: `s${i % 2}` }),
    };
  });
}

const path = (src: string) => { const [k, id] = src.split(':'); return `/v1/${k === 'campaign' ? 'campaigns' : 'canvases'}/${id}`; };
const historyCount = async (s: Stack, src: string) => (await getJson(s.ts, path(src))).body.counts?.history as number;
const interactions = async (s: Stack, user: string, history = false) =>
  (await getJson(s.ts, `/v1/users/${user}/interactions?sources=${SOURCES.join(',')}${history ? '&from=history' : ''}`)).body;

/** What every answer says of users; the user must be in none of them once erased. */
async function answersFor(s: Stack, user: string) {
  const out: Record<string, unknown> = {};
  for (const from of ['hot', 'history'] as const) {
    const filter = { or: SOURCES.map((src) => { const [k, id] = src.split(':'); return { [k!]: id, event: 'send' }; }) };
    out[`check ${from}`] = (await send(s.ts, 'POST', '/v1/retargeting/check', { filter, userIds: USERS, from })).body.matched;
    out[`count ${from}`] = (await send(s.ts, 'POST', '/v1/retargeting/count', { filter, from })).body.count;
    out[`audience ${from}`] = (await send(s.ts, 'POST', '/v1/retargeting/audience', { filter, from })).body.users;
  }
  out.hot = await interactions(s, user);
  out.history = await interactions(s, user, true);
  return out;
}

const hasLatest = (body: { sources: Record<string, { latest?: Record<string, string> }> }) =>
  Object.values(body.sources).some((x) => x.latest && Object.keys(x.latest).length > 0);

test('an erased user is in no answer; others untouched; counts drop by exactly their events; replay, restart and restore bring nothing back', async () => {
  const ns = testNamespace('er');
  let stack = await startStack(ns, {}, SLOW_TIERS);
  try {
    const evs = events('a', Date.UTC(2026, 0, 1));
    await stack.publish(evs);
    await eventually(async () => (await Promise.all(SOURCES.map((s) => historyCount(stack, s)))).every((n) => n === 40), 'ingested');
    // History is written before the hot index: the answers below read both.
    await eventually(async () => stack.ts.engine!.inflight() === 0, 'hot writes done');
    const u2Before = await answersFor(stack, 'u2');
    const u1Events = evs.filter((e) => e.userId === 'u1');
    // One hot member per source and index u1 is in.
    const u1Members = foldEvents(u1Events.map((e) => ({ ...e, source: srcOf(e) }) as unknown as InteractionEvent))
      .reduce((n, f) => n + f.indexes.size, 0);
    const before = await Promise.all(SOURCES.map((s) => historyCount(stack, s)));

    const asked = await send(stack.ts, 'DELETE', '/v1/users/u1');
    assert.is(asked.status, 202);
    assert.is(asked.body.status, 'pending');
    assert.is(asked.body.userId, 'u1');
    const done = await eventually(async () => {
      const r = await getJson(stack.ts, `/v1/erasures/${asked.body.id}`);
      return r.body.status === 'done' ? r.body : undefined;
    }, 'erasure done', 30_000);
    assert.equal(done.removed, { history: u1Events.length, hot: u1Members });
    assert.ok(done.finishedAt >= done.requestedAt);

    const gone = async (s: Stack, what: string) => {
      const a = await answersFor(s, 'u1');
      assert.not.ok(hasLatest(a.hot as never), `${what}: hot interactions of u1`);
      assert.not.ok(hasLatest(a.history as never), `${what}: history interactions of u1`);
      for (const k of Object.keys(a).filter((k) => k.startsWith('check') || k.startsWith('audience'))) {
        assert.not.ok((a[k] as string[]).includes('u1'), `${what}: ${k}`);
      }
    };
    await gone(stack, 'after the erasure');
    const after = await Promise.all(SOURCES.map((s) => historyCount(stack, s)));
    assert.equal(after, before.map((n, i) => n - u1Events.filter((e) => sourceName(srcOf(e)) === SOURCES[i]).length));
    // Every other user's answers are the same (counts less u1's).
    const u2After = await answersFor(stack, 'u2');
    assert.equal(u2After.hot, u2Before.hot);
    assert.equal(u2After.history, u2Before.history);
    assert.equal(u2After['check hot'], (u2Before['check hot'] as string[]).filter((u) => u !== 'u1'));

    // A replay of the whole stream: a new consumer from its start, in a new engine.
    await stack.ts.engine!.drain();
    await stack.ts.close();
    const { stream, consumer } = natsNames(ns);
    stack = await startStack(ns, {}, SLOW_TIERS);
    await (await stack.ts.nc.jetstreamManager()).consumers.delete(stream, consumer);
    await stack.ts.engine!.drain();
    await stack.ts.close();
    stack = await startStack(ns, {}, SLOW_TIERS);
    await eventually(async () => {
      const info = await (await stack.ts.nc.jetstreamManager()).consumers.info(stream, consumer);
      return info.delivered.stream_seq >= evs.length && info.num_ack_pending === 0 && info.num_pending === 0;
    }, 'the stream replayed');
    await gone(stack, 'after a replay');
    assert.equal(await Promise.all(SOURCES.map((s) => historyCount(stack, s))), after, 'the replay counted nothing twice, brought nothing back');

    // Demote and restore a source: still gone.
    assert.is((await send(stack.ts, 'POST', `${path('campaign:e2')}/demote`)).status, 202);
    await eventually(async () => (await getJson(stack.ts, path('campaign:e2'))).body.tier === 'expired', 'expired');
    assert.is((await send(stack.ts, 'POST', `${path('campaign:e2')}/restore`)).status, 202);
    await eventually(async () => (await getJson(stack.ts, path('campaign:e2'))).body.tier === 'hot', 'restored');
    await gone(stack, 'after a restore');

    // Events published after the request are new data.
    await stack.publish([{ id: 'late-1', type: 'send', userId: 'u1', campaignId: 'e1', time: Date.UTC(2026, 1, 1) }]);
    await eventually(async () => hasLatest(await interactions(stack, 'u1')), 'a new event of u1 ingested');
    const listed = (await getJson(stack.ts, '/v1/erasures')).body;
    assert.equal(listed.items.map((e: { id: string }) => e.id), [asked.body.id], 'the audit trail');
    assert.is(listed.cursor, null);
  } finally {
    await stack.stop();
  }
});

test('an erasure whose process died is finished by another; unknown ids are 404', async () => {
  const stack = await startStack(undefined, {}, SLOW_TIERS);
  try {
    await stack.publish(events('b', Date.UTC(2026, 0, 1)));
    await eventually(async () => (await historyCount(stack, 'campaign:e1')) === 40, 'ingested');
    // As a process that claimed it and was killed would leave it: pending, its lease lapsed.
    const id = '00000000a-0badc0de';
    await stack.ts.erasureStore.create(id, {
      id, userId: 'u3', status: 'pending', requestedAt: Date.now(), finishedAt: null, removed: { history: 0, hot: 0 }, lease: { owner: 'dead', until: Date.now() - 1 },
    });
    const done = await eventually(async () => {
      const r = await getJson(stack.ts, `/v1/erasures/${id}`);
      return r.body.status === 'done' ? r.body : undefined;
    }, 'finished by this process', 30_000);
    assert.is(done.removed.history, 30);
    assert.not.ok(hasLatest(await interactions(stack, 'u3')));
    const missing = await getJson(stack.ts, '/v1/erasures/zzzzzzzzz-00000000');
    assert.is(missing.status, 404);
    assert.is(missing.body.error, 'erasure_not_found');
  } finally {
    await stack.stop();
  }
});

/**
 * Holds the first chunk of `work` on campaign `id` before it is written (the tier manager's
 * fault point): `reached` resolves once a chunk read and filtered is waiting, `release` lets it go.
 */
function holdFirstChunk(id: string, work: 'restore' | 'rebuild') {
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const reachedP = new Promise<void>((r) => (reached = r));
  const beforeChunkWrite: TierManagerOptions['beforeChunkWrite'] = async (at) => {
    if (at.source.id !== id || at.work !== work || at.chunk !== 0) return;
    reached();
    await released;
  };
  return { beforeChunkWrite, reached: reachedP, release };
}

/**
 * `a0` (the first user in the aggregate's user order) has 6 aggregate rows (3 types, 2 variants),
 * so with 4-row chunks the user is the whole first chunk and the start of the second; 9 other users.
 */
const HELD = { kind: 'campaign', id: 'held' } as const satisfies SourceRef;
const heldEvents = () => [
  ...Array.from({ length: 6 }, (_, i) => ({ id: `h-a0-${i}`, type: TYPES[i % 3], userId: 'a0', campaignId: 'held', variantId: `v${i % 2}`, time: Date.UTC(2026, 0, 1) + i })),
  ...Array.from({ length: 27 }, (_, i) => ({ id: `h-b-${i}`, type: TYPES[i % 3], userId: `b${i % 9}`, campaignId: 'held', variantId: 'v0', time: Date.UTC(2026, 0, 2) + i })),
];

/** Erases a0 through `via` and waits until the erasure is done, as seen by `via`. */
async function eraseA0(via: Stack['ts'] | Stack['ts']['app']) {
  const asked = await send(via, 'DELETE', '/v1/users/a0');
  assert.is(asked.status, 202);
  return eventually(async () => ((await getJson(via, `/v1/erasures/${asked.body.id}`)).body.status === 'done' ? true : undefined), 'erasure done', 30_000);
}

/** After the held work finished: a0 in no index of the source, every other user as history says. */
async function assertA0Gone(ts: Stack['ts'], what: string) {
  // An index that held only the erased user is listed empty (its key stays in the source's key list).
  const snap = Object.fromEntries(Object.entries(await hotState(ts, HELD)).filter(([, users]) => Object.keys(users).length > 0));
  const withA0 = Object.entries(snap).filter(([, users]) => 'a0' in users).map(([k]) => k);
  assert.equal(withA0, [], `${what}: a0 is back in ${withA0.join(', ')}`);
  assert.equal(snap, await historyFold(ts, HELD), `${what}: hot equals the fold of history`);
}

async function publishHeldAndDemote(stack: Stack) {
  await stack.publish(heldEvents());
  await eventually(async () => (await historyCount(stack, 'campaign:held')) === 33, 'held ingested');
  assert.is((await send(stack.ts, 'POST', '/v1/campaigns/held/demote')).status, 202);
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/held')).body.tier === 'expired', 'held expired');
}

test('a restore whose history read began before an erasure does not write the user after it (one process)', async () => {
  const hold = holdFirstChunk('held', 'restore');
  const stack = await startStack(testNamespace('er'), {}, SLOW_TIERS, { restoreChunkRows: 4, leaseMs: 60_000, beforeChunkWrite: hold.beforeChunkWrite });
  try {
    await publishHeldAndDemote(stack);
    assert.is((await send(stack.ts, 'POST', '/v1/campaigns/held/restore')).status, 202);
    await hold.reached; // the first chunk (a0's rows) is read and filtered: no erasure yet
    await eraseA0(stack.ts);
    hold.release();
    await stack.ts.tiers.settled();
    assert.is((await getJson(stack.ts, '/v1/campaigns/held')).body.tier, 'hot');
    await assertA0Gone(stack.ts, 'after the restore');
  } finally {
    hold.release();
    await stack.stop();
  }
});

test('a restore in one API process does not undo an erasure made by another process while it was held', async () => {
  const hold = holdFirstChunk('held', 'restore');
  const a = await startStack(testNamespace('er'), {}, SLOW_TIERS);
  // b: an API process (no ingest, no erasure work) that runs the restore.
  const b = await createTierstream(testConfig(a.ns, { ...SLOW_TIERS, TIERSTREAM_ROLE: 'api' }), {
    engine: TEST_ENGINE, tiers: { restoreChunkRows: 4, leaseMs: 60_000, beforeChunkWrite: hold.beforeChunkWrite }, log: pino({ level: 'silent' }),
  });
  try {
    await publishHeldAndDemote(a);
    assert.is((await send(b.app, 'POST', '/v1/campaigns/held/restore')).status, 202);
    await hold.reached;
    await eraseA0(a.ts); // requested, worked and done in a
    hold.release();
    await b.tiers.settled();
    assert.is((await getJson(a.ts, '/v1/campaigns/held')).body.tier, 'hot');
    await assertA0Gone(a.ts, 'after the restore in the other process');
  } finally {
    hold.release();
    await b.close();
    await a.stop();
  }
});

test('a hot-tier rebuild whose history read began before an erasure does not write the user after it', async () => {
  const hold = holdFirstChunk('held', 'rebuild');
  const stack = await startStack(testNamespace('er'), {}, SLOW_TIERS, { restoreChunkRows: 4, leaseMs: 60_000, beforeChunkWrite: hold.beforeChunkWrite });
  try {
    await stack.publish(heldEvents());
    await eventually(async () => (await historyCount(stack, 'campaign:held')) === 33, 'held ingested');
    await stack.ts.hot.unlinkNamespace(); // Redis lost the namespace: a rebuild is claimed
    await hold.reached;
    await eraseA0(stack.ts);
    hold.release();
    await eventually(async () => (await stack.ts.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 'rebuilt');
    await assertA0Gone(stack.ts, 'after the rebuild');
  } finally {
    hold.release();
    await stack.stop();
  }
});

/**
 * Holds the first write attempt of a batch holding an event of `userId` once it passed the
 * erasure check, before its writes (the engine's fault point).
 */
function holdBatchOf(userId: string) {
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const reachedP = new Promise<void>((r) => (reached = r));
  let held = false;
  const afterErasureCheck: EngineOptions['afterErasureCheck'] = async (evs) => {
    if (held || !evs.some((e) => e.userId === userId)) return;
    held = true;
    reached();
    await released;
  };
  return { afterErasureCheck, reached: reachedP, release };
}

/** Publishes others then a0's events to `held`; resolves once a0's batch is held after its check. */
async function publishAndHoldA0(stack: Stack, hold: ReturnType<typeof holdBatchOf>) {
  // The source exists and holds others before a0's batch: the erasure's hot removal covers it.
  const [a0, others] = [heldEvents().filter((e) => e.userId === 'a0'), heldEvents().filter((e) => e.userId !== 'a0')];
  await stack.publish(others);
  await eventually(async () => (await historyCount(stack, 'campaign:held')) === others.length, 'others ingested');
  await stack.publish(a0);
  await hold.reached; // a0's batch passed the check: no erasure yet
}

/** Once the held batch is released: acknowledged, the erasure done again, a0 nowhere. */
async function assertBatchLandedAndA0Gone(stack: Stack, id: string) {
  const { stream, consumer } = natsNames(stack.ns);
  const jsm = await stack.ts.nc.jetstreamManager();
  // The batch lands and is acknowledged; the erasure must then be done again, and hold.
  await eventually(async () => {
    const info = await jsm.consumers.info(stream, consumer);
    return info.delivered.stream_seq >= heldEvents().length && info.num_ack_pending === 0 && info.num_pending === 0;
  }, 'the held batch acknowledged');
  await eventually(async () => ((await getJson(stack.ts, `/v1/erasures/${id}`)).body.status === 'done' ? true : undefined), 'erasure done', 30_000);
  await stack.ts.erasures.settled();
  assert.is(Number((await stack.ts.history.select<{ n: string }>(`SELECT count() AS n FROM ${stack.ts.history.db}.events WHERE user_id = 'a0'`))[0]!.n), 0, 'a0 is back in history');
  await assertA0Gone(stack.ts, 'after the held batch landed');
  assert.is((await stack.ts.erasureStore.get(id))!.doc.reopened, 1, 'run again once, after the batch landed');
}

test('a batch checked before an erasure and written after it does not bring the user back (ingest held between its check and its writes)', async () => {
  const hold = holdBatchOf('a0');
  const stack = await startStack(testNamespace('er'), { afterErasureCheck: hold.afterErasureCheck }, SLOW_TIERS);
  try {
    await publishAndHoldA0(stack, hold);
    const asked = await send(stack.ts, 'DELETE', '/v1/users/a0');
    assert.is(asked.status, 202);
    await eventually(async () => ((await getJson(stack.ts, `/v1/erasures/${asked.body.id}`)).body.status === 'done' ? true : undefined), 'erasure done while the batch is held', 30_000);
    hold.release();
    await assertBatchLandedAndA0Gone(stack, asked.body.id);
  } finally {
    hold.release();
    await stack.stop();
  }
});

test('the same with the erasure requested through another (API) process: ingest hears of it by its watch', async () => {
  const hold = holdBatchOf('a0');
  const a = await startStack(testNamespace('er'), { afterErasureCheck: hold.afterErasureCheck }, SLOW_TIERS);
  const b = await createTierstream(testConfig(a.ns, { ...SLOW_TIERS, TIERSTREAM_ROLE: 'api' }), { engine: TEST_ENGINE, log: pino({ level: 'silent' }) });
  try {
    await publishAndHoldA0(a, hold);
    const asked = await send(b.app, 'DELETE', '/v1/users/a0');
    assert.is(asked.status, 202);
    await eventually(async () => ((await getJson(b.app, `/v1/erasures/${asked.body.id}`)).body.status === 'done' ? true : undefined), 'erasure done (worked by the ingest process) while the batch is held', 30_000);
    hold.release();
    await assertBatchLandedAndA0Gone(a, asked.body.id);
  } finally {
    hold.release();
    await b.close();
    await a.stop();
  }
});

test.run();
