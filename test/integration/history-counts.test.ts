import { Readable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { validateEvent, type InteractionEvent, type SourceRef } from '../../core/index.js';
import { natsNames } from '../../storage/nats/index.js';
import { ClickHouseHistory, eventTsvRow, MIGRATIONS, SHARD, SINGLE_SERVER, baseStatements, distributedStatements, eventMonths, recordVersion } from '../../storage/clickhouse/index.js';
import { eventually, getJson, historyFold, hotState, startStack, testConfig, testNamespace, type Stack } from './helpers.js';

/**
 * `counts.history` is maintained as events are stored (docs/design.md, "History counts"):
 * each distinct event id once, whatever is re-sent, redelivered or inserted side by side; an
 * erasure takes the user's ids off once; an audit corrects what a race added; an upgrade
 * backfills what was stored before. Each count is compared with the exact recount (uniqExact).
 */
const test = suite('history counts');
const cluster = testConfig('t').clickhouseCluster;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

const ev = (id: string, source: string, userId: string, i: number): InteractionEvent =>
  validateEvent({ id, type: (['send', 'open', 'click'] as const)[i % 3], userId, campaignId: source, variantId: `v${i % 2}`, time: T0 + (i % 90) * DAY + i });
const many = (prefix: string, source: string, n: number, users = 20) => Array.from({ length: n }, (_, i) => ev(`${prefix}-${i}`, source, `u${i % users}`, i));
const ref = (id: string): SourceRef => ({ kind: 'campaign', id });

async function freshHistory(): Promise<ClickHouseHistory> {
  const ns = testNamespace('hc');
  const c = testConfig(ns);
  const h = new ClickHouseHistory({ url: c.clickhouseUrl, cluster: c.clickhouseCluster, database: ns });
  await h.migrate();
  return h;
}

/** Rows of a source in `events`, copies included (a copy not merged yet counts). */
async function rowsOf(h: ClickHouseHistory, source: string): Promise<number> {
  const [r] = await h.select<{ n: string }>(`SELECT count() AS n FROM ${h.db}.events WHERE source_kind = 'campaign' AND source_id = '${source}'`);
  return Number(r!.n);
}

/** An insert that skips the existence check, as a second process racing this one would make it. */
async function rawInsert(h: ClickHouseHistory, events: InteractionEvent[]): Promise<void> {
  await h.client.insert({ table: `${h.db}.events`, values: Readable.from([Buffer.from(events.map(eventTsvRow).join(''))], { objectMode: false }), format: 'TabSeparated' });
}

async function assertExact(h: ClickHouseHistory, source: string, n: number, what: string): Promise<void> {
  assert.is(await h.recountEvents(ref(source)), n, `${what}: recount`);
  assert.is(await h.countEvents(ref(source)), n, `${what}: maintained count`);
}

test('the same ids inserted again, twice in a batch, or by batches side by side are stored and counted once', async () => {
  const h = await freshHistory();
  try {
    const evs = many('a', 'a', 1_000);
    await h.insert(evs);
    await assertExact(h, 'a', 1_000, 'first insert');
    // A redelivered batch, and one with its ids twice plus 100 new ones.
    await h.insert(evs);
    await h.insert([...evs.slice(0, 300), ...evs.slice(0, 300), ...many('a2', 'a', 100)]);
    await assertExact(h, 'a', 1_100, 'again');
    // Five batches of this process at once, overlapping: each id's check and insert by one of them.
    const next = many('b', 'a', 2_000);
    await Promise.all([0, 1, 2, 3, 4].map((k) => h.insert(next.slice(k * 300, k * 300 + 800))));
    await assertExact(h, 'a', 3_100, 'side by side');
    assert.is(await rowsOf(h, 'a'), 3_100, 'no copy was inserted at all');
    assert.equal(Object.fromEntries(await h.countEventsBySource([ref('a'), ref('none')])), { 'campaign:a': 3_100, 'campaign:none': 0 });
  } finally {
    await h.dropDatabase();
    await h.close();
  }
});

test('an audit corrects a count a race moved, leaves an exact one, and waits while something moves', async () => {
  const h = await freshHistory();
  try {
    await h.insert([...many('x', 'x', 500), ...many('y', 'y', 200)]);
    assert.equal(await h.auditCounts({}), { audited: 2, corrected: 0, deferred: 0 }, 'first audit: both exact');
    assert.equal(await h.auditCounts({}), { audited: 0, corrected: 0, deferred: 0 }, 'nothing moved since');
    // Two processes inserted the same 30 ids at once: both checks found none, both inserted.
    await rawInsert(h, many('x', 'x', 30));
    assert.is(await h.countEvents(ref('x')), 530, 'the race counted them twice');
    assert.equal(await h.auditCounts({ busy: () => true }), { audited: 0, corrected: 0, deferred: 1 }, 'not while an erasure is unfinished');
    assert.is(await h.countEvents(ref('x')), 530);
    assert.equal(await h.auditCounts({}), { audited: 1, corrected: 1, deferred: 0 });
    await assertExact(h, 'x', 500, 'corrected');
    await assertExact(h, 'y', 200, 'untouched');
    // New events after the correction keep it, and the next audit finds the count exact.
    await h.insert(many('x2', 'x', 40));
    await assertExact(h, 'x', 540, 'after the correction');
    assert.equal(await h.auditCounts({}), { audited: 1, corrected: 0, deferred: 0 });
    // Another race, audited twice by two processes: the correction replaces, never adds.
    await rawInsert(h, many('x2', 'x', 10));
    const other = new ClickHouseHistory({ url: testConfig(h.db).clickhouseUrl, cluster, database: h.db });
    try {
      await Promise.all([h.auditCounts({}), other.auditCounts({})]);
    } finally {
      await other.close();
    }
    await assertExact(h, 'x', 540, 'audited by two at once');
  } finally {
    await h.dropDatabase();
    await h.close();
  }
});

test('an erasure takes each source down by the user\'s ids once, even when its run is repeated', async () => {
  const h = await freshHistory();
  try {
    await h.insert([...many('p', 'p', 300, 10), ...many('q', 'q', 100, 5)]);
    const u3 = { p: 30, q: 20 };
    assert.is(await h.eraseUser('u3', 'e1:0'), u3.p + u3.q);
    await assertExact(h, 'p', 300 - u3.p, 'erased');
    await assertExact(h, 'q', 100 - u3.q, 'erased');
    // The same run again (a crash after its work): nothing left, nothing subtracted again.
    assert.is(await h.eraseUser('u3', 'e1:0'), 0);
    await assertExact(h, 'p', 270, 'rerun');
    // A run repeated after a crash before its delete counts the same ids: its rows replace the first ones.
    await h.insert([ev('late-1', 'p', 'u4', 1), ev('late-2', 'p', 'u4', 2)]);
    await h.client.insert({
      table: `${h.db}.event_count_adjustments`,
      values: [{ source_kind: 'campaign', source_id: 'p', key: 'erasure:e2:0', n: -32, basis: 0, at: 1 }],
      format: 'JSONEachRow',
    });
    assert.is(await h.eraseUser('u4', 'e2:0'), 32 + 20);
    await assertExact(h, 'p', 240, 'a run repeated after a crash before its delete');
    await assertExact(h, 'q', 60, 'the same erasure in another source');
    // A reopened erasure (an event of the user landed after the first run) subtracts what it finds.
    await h.insert([ev('later', 'q', 'u3', 7)]);
    assert.is(await h.countEvents(ref('q')), 61);
    assert.is(await h.eraseUser('u3', 'e1:1'), 1);
    await assertExact(h, 'q', 60, 'reopened');
    assert.equal(await h.auditCounts({}), { audited: 2, corrected: 0, deferred: 0 });
  } finally {
    await h.dropDatabase();
    await h.close();
  }
});

test('an upgrade counts what history held once, also when its backfill runs again', async () => {
  const ns = testNamespace('hcup');
  const c = testConfig(ns);
  const h = new ClickHouseHistory({ url: c.clickhouseUrl, cluster: c.clickhouseCluster, database: ns });
  const tables = cluster ? SHARD : SINGLE_SERVER;
  const onEveryNode = async (ddl: string[]) => {
    for (const n of h.nodes) for (const query of ddl) await n.client.command({ query });
  };
  try {
    // A namespace of version 3: every table but the counts'.
    await onEveryNode([...baseStatements(ns, tables), ...MIGRATIONS.filter((m) => m.version <= 3).flatMap((m) => m.statements(ns, tables)), recordVersion(ns, 3)]);
    if (cluster) await onEveryNode(distributedStatements(ns, cluster).slice(0, 3));
    const evs = [...many('o', 'o', 600), ...many('o2', 'o2', 50)];
    await rawInsert(h, evs);
    await rawInsert(h, evs.slice(0, 120)); // redelivered copies of the version before, not merged yet
    await h.migrate();
    await assertExact(h, 'o', 600, 'upgraded');
    await assertExact(h, 'o2', 50, 'upgraded');
    // Interrupted before its version was recorded: the next start runs it again, backfill included.
    const m5 = MIGRATIONS.find((m) => m.version === 5)!;
    for (const n of h.nodes) {
      for (const query of m5.statements(ns, tables)) await n.client.command({ query });
      const months = await h.selectOn<{ month: string }>(n, eventMonths(ns, tables.events));
      assert.ok(months.length >= 3, 'several months');
      for (const { month } of months) await n.client.command({ query: m5.backfill!(ns, Number(month), tables, cluster ? n.url : undefined) });
    }
    await assertExact(h, 'o', 600, 'backfill repeated');
    // New events go through the view.
    await h.insert([...many('o', 'o', 10), ...many('o3', 'o', 10)]);
    await assertExact(h, 'o', 610, 'after the upgrade');
  } finally {
    await h.dropDatabase();
    await h.close();
  }
});

test('through ingest: copies re-sent past the duplicate window and a redelivered batch count once; the hot index still gets the batch', async () => {
  const stack: Stack = await startStack();
  const src = (e: { campaignId: string }) => e.campaignId;
  try {
    const wire = (prefix: string, campaign: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type: 'send', userId: `u${i % 7}`, campaignId: campaign, variantId: `v${i % 2}`, time: T0 + i * 1_000 }));
    const first = wire('s', 'sent', 50);
    await stack.publish(first);
    const state = async (id: string) => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body;
    await eventually(async () => (await state('sent')).counts?.history === 50, 'stored');
    // Braze retries: the same ids under other message ids (JetStream's window does not apply), and 10 new ones.
    await stack.publish([...first, ...wire('s2', 'sent', 10)], { msgId: (e, i) => `retry-${i}-${src(e as never)}` });
    const { stream, consumer } = natsNames(stack.ns);
    const drained = async () => {
      const info = await (await stack.ts.nc.jetstreamManager()).consumers.info(stream, consumer);
      return info.num_pending === 0 && info.num_ack_pending === 0 && stack.ts.engine!.inflight() === 0;
    };
    await eventually(drained, 'the retries consumed');
    assert.is((await state('sent')).counts.history, 60);
    assert.is(await stack.ts.history.recountEvents(ref('sent')), 60);
    assert.is(await rowsOf(stack.ts.history, 'sent'), 60, 'the copies were not inserted');

    // A batch whose history insert landed before its process died (its hot write and ack did
    // not): the redelivery stores nothing again and writes the hot index.
    const landed = wire('r', 'redelivered', 20);
    await stack.ts.history.insert(landed.map((e) => validateEvent(e)));
    await stack.publish(landed);
    await eventually(async () => (await state('redelivered')).counts?.hot === 7, 'the hot write of the redelivered batch');
    await eventually(drained, 'consumed');
    assert.is((await state('redelivered')).counts.history, 20);
    assert.equal(await hotState(stack.ts, ref('redelivered')), await historyFold(stack.ts, ref('redelivered')));
  } finally {
    await stack.stop();
  }
});

test.run();
