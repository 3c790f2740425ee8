import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { validateEvent, type InteractionEvent } from '../../core/index.js';
import { ClickHouseHistory, eventTsvRow, MIGRATIONS, SCHEMA_VERSION, SHARD, SINGLE_SERVER, distributedStatements, schemaVersion, typeEnumStatement } from '../../storage/clickhouse/index.js';
import { eventually, getJson, historyFold, hotState, send, startStack, testConfig, testNamespace } from './helpers.js';

/**
 * A namespace made by the version before the `latest` aggregate (only `events`) upgrades in
 * place when the new code starts: restore, user lookups and filters from history answer the
 * fold of every event, and `counts.history` counts each event id once. Under a ClickHouse
 * cluster (CLICKHOUSE_CLUSTER) the old namespace has that schema on every node, in the
 * cluster's layout (`events_local` behind a Distributed `events`), and each node is migrated.
 */

/** The history DDL of the version before the aggregate, as it shipped, in `table`. */
const oldSchema = (db: string, table = 'events') => [
  `CREATE DATABASE IF NOT EXISTS ${db}`,
  `CREATE TABLE IF NOT EXISTS ${db}.${table} (
    source_kind Enum8('campaign' = 1, 'canvas' = 2),
    source_id String,
    id String,
    type Enum8('send' = 1, 'delivery' = 2, 'open' = 3, 'click' = 4, 'conversion' = 5, 'bounce' = 6, 'unsubscribe' = 7, 'spam' = 8, 'control' = 9),
    user_id String,
    variant_id String,
    step_id String,
    channel Enum8('' = 0, 'email' = 1, 'push' = 2, 'sms' = 3, 'webhook' = 4, 'in_app' = 5, 'content_card' = 6, 'whatsapp' = 7),
    time Int64,
    properties String
  ) ENGINE = ReplacingMergeTree()
  PARTITION BY toYYYYMM(toDateTime(intDiv(time, 1000)))
  ORDER BY (source_kind, source_id, id)`,
];

const DAY = 86_400_000;
const TYPES = ['send', 'open', 'click', 'conversion'] as const;
/** Events of campaign `m` over 40 users and about four months (four partitions). */
const eventsOf = (from: number, n: number): InteractionEvent[] =>
  Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return validateEvent({ id: `m-${i}`, type: TYPES[i % 4], userId: `u${Math.floor(i / 4) % 40}`, campaignId: 'm', variantId: `v${i % 3}`, time: Date.UTC(2026, 0, 1) + ((i * 37) % 120) * DAY + i });
  });
const M = { kind: 'campaign', id: 'm' } as const;

const cluster = testConfig('t').clickhouseCluster;
const tables = cluster ? SHARD : SINGLE_SERVER;

/** Runs DDL on every node (one, without a cluster), with `dist` after it on a cluster. */
async function onEveryNode(h: ClickHouseHistory, ddl: string[], dist: string[] = []): Promise<void> {
  for (const n of h.nodes) for (const query of [...ddl, ...(cluster ? dist : [])]) await n.client.command({ query });
}

async function oldNamespace(ns: string, events: InteractionEvent[]): Promise<ClickHouseHistory> {
  const c = testConfig(ns);
  const h = new ClickHouseHistory({ url: c.clickhouseUrl, cluster: c.clickhouseCluster, database: ns });
  await onEveryNode(h, oldSchema(ns, tables.events), cluster ? distributedStatements(ns, cluster).slice(0, 1) : []);
  await insertOld(h, events);
  await insertOld(h, events.slice(0, 50)); // redelivered copies, not merged yet
  return h;
}

/** An insert as the old version made it: its rows end with `properties` (no link_alias, canvas_variation_id). */
async function insertOld(h: ClickHouseHistory, events: InteractionEvent[]): Promise<void> {
  const body = events.map((e) => eventTsvRow(e).replace(/\t[^\t\n]*\t[^\t\n]*\n$/, '\n')).join('');
  await h.client.insert({ table: `${h.db}.events`, values: Readable.from([Buffer.from(body)], { objectMode: false }), format: 'TabSeparated' });
}

async function checkUpgraded(ns: string, total: number): Promise<void> {
  const stack = await startStack(ns);
  try {
    const { ts } = stack;
    const [v] = await ts.history.select<{ v: string }>(schemaVersion(ns));
    assert.is(Number(v!.v), SCHEMA_VERSION, 'the upgrade is recorded');
    const cols = await ts.history.select<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${ns}' AND table = 'events'`);
    assert.ok(['link_alias', 'canvas_variation_id'].every((c) => cols.some((x) => x.name === c)), 'the columns added since are there');
    assert.is((await getJson(ts, '/v1/campaigns/m')).status, 404, 'history alone registers nothing');
    assert.is((await send(ts, 'PUT', '/v1/campaigns/m', { status: 'active' })).status, 200);
    assert.is((await getJson(ts, '/v1/campaigns/m')).body.counts.history, total, 'each event id counted once');
    // The history lookups read the aggregate: they must agree with the fold of the raw events.
    const fold = await historyFold(ts, M);
    assert.is(Object.keys(fold.any!).length, 40);
    const u = await getJson(ts, '/v1/users/u7/interactions?sources=campaign:m&from=history');
    assert.equal(u.body.sources[0].latest, Object.fromEntries(TYPES.map((t) => [t, new Date(fold[`e:${t}`]!.u7!).toISOString()])));
    const clickers = Object.keys(fold['e:click']!).sort();
    const check = await send(ts, 'POST', '/v1/retargeting/count', { filter: { campaign: 'm', event: 'click' }, from: 'history' });
    assert.is(check.body.count, clickers.length);
    const notClicked = await send(ts, 'POST', '/v1/retargeting/audience', { filter: { not: { campaign: 'm', event: 'click' } }, from: 'history' });
    assert.equal(notClicked.body.users, Object.keys(fold.any!).filter((x) => !clickers.includes(x)).sort());
    // A restore builds the hot index from the aggregate: equal to the fold of the raw events.
    await send(ts, 'POST', '/v1/campaigns/m/demote');
    await eventually(async () => (await getJson(ts, '/v1/campaigns/m')).body.tier === 'expired', 'demoted');
    await send(ts, 'POST', '/v1/campaigns/m/restore');
    await eventually(async () => (await getJson(ts, '/v1/campaigns/m')).body.tier === 'hot', 'restored');
    assert.equal(await hotState(ts, M), fold);
  } finally {
    await stack.stop();
  }
}

test('a namespace of the version before the aggregate upgrades in place at start', async () => {
  const ns = testNamespace('mig');
  const events = eventsOf(0, 400);
  const h = await oldNamespace(ns, events);
  await h.close();
  await checkUpgraded(ns, 400);
});

test('an upgrade interrupted after the view was made, with events inserted meanwhile, finishes at the next start', async () => {
  const ns = testNamespace('mig');
  const h = await oldNamespace(ns, eventsOf(0, 300));
  try {
    // The process died after the migration's DDL, before its backfill and record: events
    // inserted since went through the view only, older ones are in `events` only.
    // (migrate() brings the events' type enum to today's before the migrations.)
    await onEveryNode(h, [typeEnumStatement(ns, tables.events), ...MIGRATIONS[0]!.statements(ns, tables)], [typeEnumStatement(ns, 'events')]);
    await insertOld(h, eventsOf(300, 100));
    const [t] = await h.select<{ n: string }>(`SELECT count() AS n FROM system.tables WHERE database = '${ns}' AND name = 'schema_version'`);
    assert.is(Number(t!.n), 0, 'nothing recorded');
  } finally {
    await h.close();
  }
  await checkUpgraded(ns, 400);
});

test.run();
