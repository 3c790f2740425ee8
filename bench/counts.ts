/**
 * counts: what does `counts.history` cost at 10M events, exact recount against the count
 * maintained as events are stored, and what does the existence check cost a batch there?
 * See bench/README.md, "counts".
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { pino } from 'pino';
import { configFromEnv } from '../config.js';
import { createTierstream } from '../runtime.js';
import { deleteStreams } from '../engine/ingest/index.js';
import { validateEvent, type SourceRef } from '../core/index.js';
import { ClickHouseHistory, sqlString } from '../storage/clickhouse/index.js';
import { median, round, table } from './measure.js';
import { destroyKvBuckets, codeVersion, writeResult } from './namespace.js';
import type { Benchmark } from './types.js';

const BIG: SourceRef = { kind: 'campaign', id: 'big' };
/** Rows per INSERT ... SELECT of the fill (each well under the request timeout). */
const FILL_ROWS = 1_000_000;
const T0 = Date.UTC(2026, 9, 1);

/** Milliseconds of each of `n` runs of `fn`, one after the other. */
async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export const counts: Benchmark = {
  name: 'counts',
  question: 'what does counts.history cost at 10M events of a source: the exact recount (uniqExact) against the maintained count, a state read, a listing page; and the existence check a batch pays there?',
  options: {
    events: { default: 10_000_000, min: 1_000, description: 'events of the big source' },
    reads: { default: 7, min: 1, description: 'reads of each kind (medians reported)' },
    sources: { default: 99, min: 0, description: 'small sources beside it (1,000 events each), all on one listing page' },
    batch: { default: 5_000, min: 1, description: 'events per insert in the existence-check measure (the engine batch size)' },
  },
  async run(p) {
    const startedAt = new Date();
    const load = os.loadavg();
    const ns = `bench_${randomBytes(4).toString('hex')}`;
    const config = configFromEnv({ ...process.env, TIERSTREAM_NAMESPACE: ns, TIERSTREAM_ROLE: 'api' });
    const ts = await createTierstream(config, { log: pino({ level: 'silent' }) });
    const db = ts.history.db;
    const raw = new ClickHouseHistory({ url: config.clickhouseUrl, cluster: config.clickhouseCluster, database: ns, requestTimeoutMs: 600_000, dedupInserts: false });
    const checked = new ClickHouseHistory({ url: config.clickhouseUrl, cluster: config.clickhouseCluster, database: ns, requestTimeoutMs: 600_000 });
    try {
      // The fill: the big source, then the small ones, straight into `events` (its views fill
      // `latest`, `events_by_user` and the counts), each id once.
      const fill = async (source: string, from: number, n: number) => raw.client.command({
        query: `INSERT INTO ${db}.events (source_kind, source_id, id, type, user_id, variant_id, step_id, channel, time, properties)
          SELECT 'campaign', ${sqlString(source)}, concat('e', toString(number)), 'send', concat('u', toString(number % 1000000)), if(number % 2 = 0, 'A', 'B'), '', 'email', ${T0} + number * 100, ''
          FROM system.numbers WHERE number >= ${from} AND number < ${from + n} LIMIT ${n}`,
      });
      const t0 = performance.now();
      for (let from = 0; from < p.events!; from += FILL_ROWS) await fill(BIG.id, from, Math.min(FILL_ROWS, p.events! - from));
      const fillSeconds = (performance.now() - t0) / 1000;
      const small: SourceRef[] = Array.from({ length: p.sources! }, (_, i) => ({ kind: 'campaign', id: `small${i}` }));
      for (const s of small) await fill(s.id, 0, 1_000);
      for (const s of [BIG, ...small]) await ts.app.inject({ method: 'PUT', url: `/v1/campaigns/${s.id}`, payload: { status: 'active' } });
      const page = [BIG, ...small];

      const exact = await ts.history.recountEvents(BIG);
      const maintained = await ts.history.countEvents(BIG);
      if (exact !== p.events || maintained !== p.events) throw new Error(`counts: recount ${exact}, maintained ${maintained}, expected ${p.events}`);
      // Before: what the API ran (uniqExact over the source's events; a page's in one grouped query).
      const recount = await timed(p.reads!, () => ts.history.recountEvents(BIG));
      const recountPage = await timed(p.reads!, () => ts.history.select(
        `SELECT source_kind, source_id, uniqExact(id) AS n FROM ${db}.events WHERE source_kind = 'campaign' AND source_id IN (${page.map((s) => sqlString(s.id)).join(', ')}) GROUP BY source_kind, source_id`));
      // After: the maintained count, and the API's reads that use it.
      const count = await timed(p.reads!, () => ts.history.countEvents(BIG));
      const countPage = await timed(p.reads!, () => ts.history.countEventsBySource(page));
      const state = await timed(p.reads!, async () => {
        const res = await ts.app.inject({ method: 'GET', url: '/v1/campaigns/big' });
        if (res.json().counts.history !== p.events) throw new Error(`GET answered ${res.body}`);
      });
      const listing = await timed(p.reads!, async () => {
        const res = await ts.app.inject({ method: 'GET', url: '/v1/sources?limit=100' });
        if (res.statusCode !== 200) throw new Error(`listing answered ${res.statusCode}`);
      });
      // The audit of the big source: a recount and four small reads.
      await ts.history.auditCounts({});
      await checked.insert([validateEvent({ id: 'moved', type: 'send', userId: 'u1', campaignId: 'big', time: T0 })]);
      const audit = await timed(1, () => ts.history.auditCount(BIG));

      // The existence check: batches of new ids of the big source, with it and without it
      // (raw: the insert alone), alternating; then batches whose ids are all stored already.
      const batch = (k: number) => Array.from({ length: p.batch! }, (_, i) =>
        validateEvent({ id: `n${k}-${i}`, type: 'open', userId: `u${i}`, campaignId: 'big', variantId: 'A', channel: 'email', time: Date.now() - 1_000 }));
      const withCheck: number[] = [];
      const without: number[] = [];
      for (let k = 0; k < p.reads!; k++) {
        withCheck.push(...await timed(1, () => checked.insert(batch(2 * k))));
        without.push(...await timed(1, () => raw.insert(batch(2 * k + 1))));
      }
      const stored = await timed(p.reads!, () => checked.insert(batch(0)));

      const ms = (xs: number[]) => round(median(xs), 1);
      const rows = [
        ['count of the big source', 'uniqExact (before)', ms(recount), 'maintained (after)', ms(count)],
        [`counts of a page of ${page.length} sources`, 'uniqExact, grouped', ms(recountPage), 'maintained', ms(countPage)],
        ['GET /v1/campaigns/big', '', '', 'maintained', ms(state)],
        ['GET /v1/sources?limit=100', '', '', 'maintained', ms(listing)],
        ['audit of the big source', '', '', 'recount + 4 reads', ms(audit)],
        [`insert of ${p.batch} new events into it`, 'without the check', ms(without), 'with the check', ms(withCheck)],
        [`insert of ${p.batch} events all stored`, '', '', 'with the check (nothing inserted)', ms(stored)],
      ];
      console.log(`filled ${p.events} events in ${round(fillSeconds, 1)} s; medians of ${p.reads} reads, ms`);
      console.log(table(['what', 'before', 'ms', 'after', 'ms'], rows.map((r) => r.map(String))));
      const file = writeResult('counts', startedAt, {
        params: p, loadAverage: load.map((x) => round(x, 2)), code: codeVersion(), fillSeconds: round(fillSeconds, 1),
        ms: { recount, recountPage, count, countPage, state, listing, audit, insertWithout: without, insertWithCheck: withCheck, insertAllStored: stored },
        medians: Object.fromEntries(rows.map((r) => [r[0], { before: r[2], after: r[4] }])),
      });
      console.log(`wrote ${file}`);
    } finally {
      await raw.close();
      await checked.close();
      const jsm = await ts.nc.jetstreamManager();
      await deleteStreams(jsm, ns).catch(() => undefined);
      await ts.filterStore.destroy().catch(() => false);
      await ts.sourceIds.destroy().catch(() => false);
      await destroyKvBuckets({ ns, nc: ts.nc, jsm } as never).catch(() => undefined);
      await ts.history.dropDatabase();
      await ts.hot.unlinkNamespace();
      await ts.close();
    }
  },
};
