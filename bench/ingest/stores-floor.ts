/**
 * (a2) The stores' own minimum: the run's events, decoded beforehand (untimed), written the
 * cheapest way each store takes them, with no engine. ClickHouse gets raw TabSeparated
 * inserts of `insertRows` rows into a plain copy of the events table (storage/clickhouse's
 * schema, in the scratch database `<ns>_floor`); Redis gets the events' folded state
 * (core foldEvents) as variadic `ZADD key GT score member ...` of `zaddMembers` members,
 * pipelined, under the scratch key prefix `<ns>_floor:`. The two run side by side; the clock
 * covers building the rows, the fold, and every write until acknowledged.
 */
import { Readable } from 'node:stream';
import { foldEvents, runPool, type InteractionEvent } from '../../core/index.js';
import { ClickHouseHistory, eventTsvRow, sourceTag } from '../../storage/index.js';
import { RssSampler, MiB, forceGc, round } from '../measure.js';
import { redisKeys } from '../namespace.js';
import type { Ctx } from './context.js';
import { cpuWindow, readCpu, type CpuWindow } from './cpu.js';

/** Pipelines of ZADD commands in flight at once, and commands per pipeline. */
const PIPELINES_IN_FLIGHT = 4;
const COMMANDS_PER_PIPELINE = 16;

export interface FloorResult {
  phase: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  clickhouse: { inserts: number; rows: number; seconds: number };
  redis: { commands: number; members: number; keys: number; seconds: number };
  peakRssMiB: number;
  cpu: CpuWindow;
}

export const floorNamespace = (ctx: Pick<Ctx, 'ns'>) => `${ctx.ns}_floor`;

/** Writes `events` to both stores once, from empty scratch copies, and removes the copies again. */
export async function runStoresFloor(ctx: Ctx, events: readonly InteractionEvent[]): Promise<FloorResult> {
  const floorNs = floorNamespace(ctx);
  const history = new ClickHouseHistory({ url: ctx.clickhouseUrl, cluster: ctx.clickhouseCluster, database: floorNs });
  try {
    await dropFloor(ctx, history);
    await history.migrate();
    forceGc();
    const rss = new RssSampler();
    const cpu0 = readCpu(ctx.services);
    const t0 = performance.now();
    const [clickhouse, redis] = await Promise.all([insertHistory(ctx, history, events), writeHot(ctx, floorNs, events)]);
    const t1 = performance.now();
    const cpu1 = readCpu(ctx.services);
    const peak = rss.stop();
    const [r] = await history.select<{ n: string }>(`SELECT count() AS n FROM ${history.db}.events`);
    if (Number(r?.n) !== events.length) throw new Error(`stores floor: ClickHouse holds ${r?.n} rows, not ${events.length}`);
    const seconds = (t1 - t0) / 1000;
    return {
      phase: '(a2) stores alone: raw inserts + ZADD GT',
      events: events.length,
      seconds: round(seconds, 3),
      eventsPerSecond: Math.round(events.length / seconds),
      clickhouse,
      redis,
      peakRssMiB: round(peak / MiB, 1),
      cpu: cpuWindow(cpu0, cpu1, events.length),
    };
  } finally {
    await dropFloor(ctx, history).catch((err) => console.error(`bench: cleanup of ${floorNs} failed: ${(err as Error).message}`));
    await history.close();
  }
}

/** Removes the scratch database and keys (also what cleanup calls after a failure). */
export async function dropFloor(ctx: Ctx, history: ClickHouseHistory): Promise<void> {
  await history.dropDatabase();
  await redisKeys({ ...ctx, ns: floorNamespace(ctx) }, true);
}

/** Inserts one after the other; the next body is built while the previous insert runs. */
async function insertHistory(ctx: Ctx, history: ClickHouseHistory, events: readonly InteractionEvent[]) {
  const t0 = performance.now();
  const table = `${history.db}.events`;
  const insert = (body: string) =>
    history.client.insert({ table, values: Readable.from([Buffer.from(body, 'utf8')], { objectMode: false }), format: 'TabSeparated' });
  let pending: Promise<unknown> = Promise.resolve();
  let inserts = 0;
  for (let i = 0; i < events.length; i += ctx.p.insertRows) {
    let body = '';
    const end = Math.min(events.length, i + ctx.p.insertRows);
    for (let j = i; j < end; j++) body += eventTsvRow(events[j]!);
    await pending;
    pending = insert(body);
    inserts++;
  }
  await pending;
  return { inserts, rows: events.length, seconds: round((performance.now() - t0) / 1000, 3) };
}

/**
 * Folds the events and sends each index's members as ZADD GT commands of at most
 * `zaddMembers` members, PIPELINES_IN_FLIGHT pipelines at a time; the commands of a pipeline
 * belong to one source (one cluster slot) and are built only when a pipeline is free.
 */
async function writeHot(ctx: Ctx, floorNs: string, events: readonly InteractionEvent[]) {
  const t0 = performance.now();
  const counts = { commands: 0, members: 0, keys: 0 };
  const perCommand = ctx.p.zaddMembers;
  function* pipelines(): Generator<(string | number)[][]> {
    for (const fold of foldEvents(events)) {
      // The floor writes plain sorted sets (the layout before the compact one): ZADD GT alone.
      const base = `${floorNs}:${sourceTag(fold.source)}:i:`;
      let cmds: (string | number)[][] = [];
      for (const [name, users] of fold.indexes) {
        const key = base + name;
        counts.keys++;
        let args: (string | number)[] = [key, 'GT'];
        for (const [user, time] of users) {
          args.push(time, user);
          if (args.length === 2 + 2 * perCommand) (cmds.push(args), (args = [key, 'GT']));
        }
        if (args.length > 2) cmds.push(args);
        counts.members += users.size;
        if (cmds.length >= COMMANDS_PER_PIPELINE) (yield cmds, (cmds = []));
      }
      if (cmds.length) yield cmds;
    }
  }
  const sends = function* () {
    for (const cmds of pipelines()) {
      yield async () => {
        const pipe = ctx.redis.pipeline();
        for (const c of cmds) pipe.call('ZADD', ...c);
        for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
        counts.commands += cmds.length;
      };
    }
  };
  await runPool(sends(), PIPELINES_IN_FLIGHT);
  return { ...counts, seconds: round((performance.now() - t0) / 1000, 3) };
}
