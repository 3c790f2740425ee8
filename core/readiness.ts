import { withDeadline } from './deadline.js';

/**
 * Readiness: named checks, each null when healthy or what is wrong. `/readyz` answers 503
 * `hot_tier_rebuilding` (not `not_ready`) when the hot tier's check says REBUILDING.
 */
export type Readiness = Record<string, string | null>;

/** What the hot tier's readiness check reports while Redis is rebuilt from history. */
export const REBUILDING = 'rebuilding from history';

/** What readiness asks of the stores; each may also throw (its message is reported). */
export interface ReadinessProbes {
  /** True when NATS answers. */
  nats(): Promise<boolean>;
  /** True when Redis answers. */
  redis(): Promise<boolean>;
  /** ClickHouse nodes not answering (every node of a cluster: while a shard is away history cannot answer). */
  clickhouseAway(): Promise<string[]>;
  /** True while the hot tier is rebuilt from history; asked only of a Redis that answers. */
  rebuilding(): Promise<boolean>;
  /** What is wrong with the ingest backlog (a stream full, more events waiting than ingest should hold), or null. */
  backlog?(): Promise<string | null>;
}

/**
 * The readiness check `/readyz` runs: `nats`, `redis`, `clickhouse`, `hot_tier` (and
 * `ingest_backlog` when asked), each null
 * when healthy, else what is wrong (`not answering`, an error's message, REBUILDING). Each probe
 * has `timeoutMs` (default 1_000) to answer.
 */
export function createReadiness(probes: ReadinessProbes, timeoutMs = 1_000): () => Promise<Readiness> {
  const within = <T>(p: Promise<T>, what: string): Promise<T> =>
    withDeadline(p, timeoutMs, () => new Error(`${what} timed out after ${timeoutMs} ms`));
  const check = async (name: string, fn: () => Promise<boolean>): Promise<string | null> => {
    try {
      return (await within(fn(), name)) ? null : 'not answering';
    } catch (err) {
      return (err as Error).message;
    }
  };
  return async () => {
    const [nats, redis, clickhouse, backlog] = await Promise.all([
      check('nats', () => probes.nats()),
      check('redis', () => probes.redis()),
      check('clickhouse', async () => {
        const away = await probes.clickhouseAway();
        if (away.length) throw new Error(`not answering: ${away.join(', ')}`);
        return true;
      }),
      probes.backlog ? within(probes.backlog(), 'ingest backlog').catch((err: Error) => err.message) : null,
    ]);
    // Asked only of a Redis that answers: a command to one that does not would wait for it.
    let hotTier: string | null = null;
    if (redis === null) {
      try {
        if (await within(probes.rebuilding(), 'hot tier check')) hotTier = REBUILDING;
      } catch (err) {
        hotTier = (err as Error).message;
      }
    }
    return { nats, redis, clickhouse, hot_tier: hotTier, ...(probes.backlog && { ingest_backlog: backlog }) };
  };
}
