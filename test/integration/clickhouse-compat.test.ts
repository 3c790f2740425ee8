import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Session } from 'chdb';
import { ClickHouseHistory, MIGRATIONS, SCHEMA_VERSION, baseStatements, typeEnumStatement, eventMonths, queries, recordVersion, schemaVersion, sqlString } from '../../storage/clickhouse/index.js';
import { ANY_MESSAGE, validateEvent, type FilterPlan, type InteractionEvent } from '../../core/index.js';
import { singleClickHouseUrl, testNamespace } from './helpers.js';

/**
 * The history's DDL and queries must run on ClickHouse 18.16 (the server here) and on current
 * ClickHouse alike. chdb is current ClickHouse in-process: run the same text on both and
 * compare the answers. One server's layout, also under a cluster (its first node).
 */
const raw = [
  { id: 'e1', type: 'send', userId: 'u1', campaignId: 'A', variantId: 'v1', channel: 'email', time: 1_000, properties: { k: "it's", odd: 'tab\there\nline\\slash "q" é' } },
  { id: 'e2', type: 'open', userId: 'u1', campaignId: 'A', variantId: 'v1', time: 2_000 },
  { id: 'e2', type: 'open', userId: 'u1', campaignId: 'A', variantId: 'v1', time: 2_000 }, // duplicate id
  { id: 'e3', type: 'send', userId: 'u1', campaignId: 'A', variantId: 'v2', time: 3_000 },
  { id: 'e4', type: 'send', userId: "o.brien+x@y", campaignId: 'A', time: '2026-03-01T00:00:00.123+01:00' },
  { id: 'e5', type: 'click', userId: 'u1', canvasId: 'A', stepId: 's1', time: 9_000, canvasVariationId: 'cv1' }, // a canvas with the same id
  { id: 'e6', type: 'click', userId: 'u2', campaignId: 'A', channel: 'email', linkAlias: 'hero', time: 4_000 },
  { id: 'e7', type: 'click', userId: 'u1', canvasId: 'A', stepId: 's1', channel: 'email', linkAlias: 'hero', time: 5_000 },
];
const events: InteractionEvent[] = raw.map((e) => validateEvent(e));
const A = { kind: 'campaign', id: 'A' } as const;
/** A plan with a latest-time leaf and two count leaves (one over two sources): opened A, opened A once or more since 1.5 s, and sent at most twice over A and canvas A before 2026. */
const COUNTED: FilterPlan = {
  leaves: [
    { source: A, index: 'e:open', after: -Infinity, before: Infinity },
    { source: A, index: 'e:open', after: 1_500, before: Infinity, count: { min: 1, max: Infinity, sources: [A] } },
    { source: A, index: 'e:send', after: 0, before: Date.UTC(2027, 0, 1), count: { min: 0, max: 2, sources: [A, { kind: 'canvas', id: 'A' }] } },
  ],
  program: { and: [{ leaf: 0 }, { leaf: 1 }, { leaf: 2 }] },
  sources: [A, { kind: 'canvas', id: 'A' }],
};

test('the same DDL and queries give the same answers on ClickHouse 18.16 and current ClickHouse', async () => {
  const db = testNamespace('compat');
  const server = new ClickHouseHistory({ url: singleClickHouseUrl(), database: db });
  const session = new Session();
  try {
    await server.migrate();
    await server.insert(events);
    // The server gets the fresh schema (the view fills `latest` at insert). chdb gets what the
    // version before the aggregate made (database and `events` only), the events, then the
    // migration's DDL and backfill, as ClickHouseHistory.migrate runs them: both paths, and
    // every statement on both versions.
    const [createDb, createEvents] = baseStatements(db);
    session.query(createDb!);
    session.query(createEvents!);
    // Same rows as the server gets through the client (JSONEachRow), inserted inline.
    const rows = events.map((e) => JSON.stringify({
      source_kind: e.source.kind, source_id: e.source.id, id: e.id, type: e.type, user_id: e.userId,
      variant_id: e.variantId ?? '', step_id: e.stepId ?? '', channel: e.channel ?? '', time: e.time, properties: e.properties ?? '',
      link_alias: e.linkAlias ?? '', canvas_variation_id: e.canvasVariationId ?? '',
    }));
    session.query(`INSERT INTO ${db}.events FORMAT JSONEachRow ${rows.join('\n')}`);
    const onChdb = (sql: string) => session.query(`${sql} FORMAT JSONEachRow`, 'JSONEachRow').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    for (const stmt of baseStatements(db)) session.query(stmt);
    assert.equal(onChdb(schemaVersion(db)).map((r) => Number(r.v)), [0]);
    for (const m of MIGRATIONS) {
      for (const stmt of m.statements(db)) session.query(stmt);
      for (const { month } of onChdb(eventMonths(db))) session.query(m.backfill!(db, Number(month)));
      session.query(recordVersion(db, m.version));
    }
    assert.equal(onChdb(schemaVersion(db)).map((r) => Number(r.v)), [SCHEMA_VERSION]);
    const sorted = (rows: Record<string, unknown>[]) => rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)])))).sort();

    for (const sql of [
      queries.recountEvents(db, A),
      // The maintained counts: the server's through its view, chdb's through the backfill.
      queries.countsBySource(db, [A, { kind: 'canvas', id: 'A' }, { kind: 'campaign', id: 'none' }]),
      queries.auditCandidates(db, 10),
      queries.countedOf(db, A),
      queries.storedIds(db, [{ source: A, ids: ['e1', 'e2', 'nope'], minTime: 0, maxTime: 2_000 }, { source: { kind: 'canvas', id: 'A' }, ids: ['e5', 'e2'], minTime: 9_000, maxTime: 9_000 }]),
      queries.userEventsBySource(db, 'u1'),
      queries.userLatest(db, A, 'u1'),
      queries.userLatest(db, A, "o.brien+x@y"),
      queries.userLatest(db, { kind: 'canvas', id: 'A' }, 'u1'),
      // Its rows as they are: merged or not (background merges differ), the same maxima.
      `SELECT user_id, type, variant_id, step_id, link_alias, max(time) AS t FROM (${queries.aggregateSource(db, A)}) GROUP BY user_id, type, variant_id, step_id, link_alias`,
      `SELECT user_id, type, variant_id, step_id, link_alias, max(time) AS t FROM (${queries.aggregateSource(db, { kind: 'canvas', id: 'A' })}) GROUP BY user_id, type, variant_id, step_id, link_alias`,
      queries.anyMessageAggregate(db),
      // Any-message leaves and link aliases: `latest` and `events` in one union.
      queries.filterUsers(db, {
        leaves: [
          { source: ANY_MESSAGE, index: 'e:send', after: -Infinity, before: Infinity },
          { source: ANY_MESSAGE, index: 'c:email:click', after: 4_500, before: Infinity },
          { source: ANY_MESSAGE, index: 'a:hero', after: -Infinity, before: Infinity },
          { source: { kind: 'canvas', id: 'A' }, index: 'sa:s1|hero', after: -Infinity, before: Infinity },
        ],
        program: { or: [{ and: [{ leaf: 0 }, { not: { leaf: 1 } }] }, { and: [{ leaf: 2 }, { leaf: 3 }] }] },
        sources: [ANY_MESSAGE, { kind: 'canvas', id: 'A' }],
      }, {}),
      queries.filterUsers(db, {
        leaves: [{ source: A, index: 'a:hero', after: -Infinity, before: Infinity }],
        program: { not: { leaf: 0 } },
        sources: [A],
      }, { count: true }),
      `SELECT count() AS n FROM ${db}.events WHERE user_id = ${sqlString("x' OR 1=1 --")}`,
      // Count leaves (distinct ids of events, e2 sent twice) joined to the universe of `latest`.
      // c0 counts rows of `latest`, merged or not: only whether it is 0 is read.
      `SELECT user_id, l0, c0 > 0 AS has0, n1, n2 FROM (${queries.filterValues(db, COUNTED, {})})`,
      `SELECT user_id, l0, c0 > 0 AS has0, n1, n2 FROM (${queries.filterValues(db, COUNTED, { users: ['u1', 'nobody'] })})`,
      queries.filterValues(db, { ...COUNTED, leaves: COUNTED.leaves.slice(1), program: { leaf: 0 } }, {}),
      queries.filterUsers(db, COUNTED, {}),
      queries.filterUsers(db, COUNTED, { count: true }),
      queries.leafCounts(db, COUNTED.leaves, { users: ['u1', "o.brien+x@y"] }),
    ]) {
      assert.equal(sorted(onChdb(sql)), sorted(await server.select(sql)), sql);
    }
    assert.is(await server.countEvents(A), 5);
    assert.equal([...await server.filterValues(COUNTED, ['u1', "o.brien+x@y", 'nobody'])].map(([u, v]) => [u, [...v]]).sort(),
      [['o.brien+x@y', [NaN, 0, 1]], ['u1', [2_000, 1, 2]]].sort());
    assert.equal(await server.filterUsers(COUNTED, {}), ['u1']);
    assert.equal(Object.fromEntries(await server.countEventsBySource([A, { kind: 'canvas', id: 'A' }, { kind: 'campaign', id: 'none' }])), { 'campaign:A': 5, 'canvas:A': 2, 'campaign:none': 0 });
    // 5 keys of A; one more row until the duplicate of e2 is merged away.
    for (const n of [Number(onChdb(queries.countAggregateRows(db, A))[0].n), await server.countAggregateRows(A)]) assert.ok(n === 5 || n === 6, String(n));
    assert.equal(await server.filterUsers({
      leaves: [{ source: ANY_MESSAGE, index: 'a:hero', after: -Infinity, before: Infinity }, { source: { kind: 'canvas', id: 'A' }, index: 'sa:s1|hero', after: -Infinity, before: Infinity }],
      program: { and: [{ leaf: 0 }, { not: { leaf: 1 } }] },
      sources: [ANY_MESSAGE, { kind: 'canvas', id: 'A' }],
    }, {}), ['u2']);
    // Properties survive the TabSeparated insert byte for byte.
    const props = await server.select<{ properties: string }>(`SELECT properties FROM ${db}.events WHERE id = 'e1'`);
    assert.is(props[0]!.properties, events[0]!.properties);
    assert.equal(Object.fromEntries(await server.userLatest(A, 'u1')), {
      any: 3_000, 'e:send': 3_000, 'e:open': 2_000, 'v:v1:send': 1_000, 'v:v1:open': 2_000, 'v:v2:send': 3_000,
    });
    assert.equal(Object.fromEntries(await server.userLatest(A, "o.brien+x@y")), {
      any: Date.UTC(2026, 1, 28, 23, 0, 0, 123), 'e:send': Date.UTC(2026, 1, 28, 23, 0, 0, 123),
    });
  } finally {
    session.cleanup();
    await server.dropDatabase();
    await server.close();
  }
});

test('a table created before machine_open keeps its rows and accepts machine opens after migrate, on 18.16 and current ClickHouse', async () => {
  const db = testNamespace('compat');
  const server = new ClickHouseHistory({ url: singleClickHouseUrl(), database: db });
  const session = new Session();
  const [createDb, createTable, ...rest] = baseStatements(db);
  // The DDL as it was before machine_open existed: the same Enum8 without its last value.
  const oldTable = createTable!.replace(", 'machine_open' = 10", '');
  assert.ok(oldTable !== createTable, 'machine_open is the Enum8 value 10, appended last');
  const before = `INSERT INTO ${db}.events (source_kind, source_id, id, type, user_id, time) VALUES ('campaign', 'A', 'o1', 'open', 'u1', 1000), ('campaign', 'A', 'o2', 'control', 'u2', 2000)`;
  const after = `INSERT INTO ${db}.events (source_kind, source_id, id, type, user_id, time) VALUES ('campaign', 'A', 'm1', 'machine_open', 'u1', 3000)`;
  const read = `SELECT id, type, toInt8(type) AS n FROM ${db}.events ORDER BY id`;
  try {
    for (const stmt of [createDb!, oldTable, before]) {
      await server.client.command({ query: stmt });
      session.query(stmt);
    }
    // The old enum refuses machine_open on both.
    await server.client.command({ query: after }).then(() => assert.unreachable('18.16 accepted machine_open before the migration'), () => undefined);
    assert.throws(() => session.query(after));
    await server.migrate();
    await server.migrate(); // idempotent
    // What migrate() runs after the base tables, twice: every statement is safe to repeat.
    const upgrade = [...rest, typeEnumStatement(db, 'events'), ...MIGRATIONS.flatMap((m) => m.statements(db)), typeEnumStatement(db, 'latest')];
    for (const stmt of [...upgrade, ...upgrade]) session.query(stmt);
    await server.client.command({ query: after });
    session.query(after);
    const onChdb = session.query(`${read} FORMAT JSONEachRow`, 'JSONEachRow').trim().split('\n').map((l) => JSON.parse(l));
    const expected = [{ id: 'm1', type: 'machine_open', n: 10 }, { id: 'o1', type: 'open', n: 3 }, { id: 'o2', type: 'control', n: 9 }];
    assert.equal(onChdb, expected);
    assert.equal(await server.select(read), expected);
  } finally {
    session.cleanup();
    await server.dropDatabase();
    await server.close();
  }
});

test.run();
