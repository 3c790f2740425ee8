/** What every part of the ingest benchmark shares: its parameters, its connections, the targets. */
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import type { Cluster, Redis } from 'ioredis';
import type { ClickHouseHistory } from '../../storage/index.js';

// The targets (bench/README.md), reported, never asserted.
/** (b) events/s over (a1)'s, at least. */
export const TARGET_RATIO = 0.45;
/** (b)'s CPU per event over (a1)'s plus (a2)'s, at most. */
export const TARGET_CPU_FACTOR = 1.3;
/** Peak RSS draining the largest backlog over the smallest, at most. */
export const TARGET_MEMORY_FACTOR = 1.1;
/** Consumer state poll interval while waiting for a phase to finish, ms. */
export const POLL_MS = 50;

export interface Params {
  events: number;
  runs: number;
  /** Ingest processes of each (b) phase, in order. */
  processes: number[];
  /** Backlogs drained for the flat-memory check, in order (empty: no check). */
  memorySizes: number[];
  campaigns: number;
  users: number;
  variants: number;
  seed: number;
  batchSize: number;
  batchWaitMs: number;
  /** (a1): messages between cumulative acks. */
  ackEvery: number;
  /** (a2): rows per ClickHouse insert and members per ZADD. */
  insertRows: number;
  zaddMembers: number;
  engineNice: number;
  lookupTargetMs: number;
}

export interface Ctx {
  ns: string;
  p: Params;
  signal: AbortSignal;
  /** The benchmark's own connections: tierstream runs in processes of its own. */
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  history: ClickHouseHistory;
  clickhouseUrl: string;
  /** CLICKHOUSE_CLUSTER, when the history is sharded. */
  clickhouseCluster: string | undefined;
  redis: Redis | Cluster;
  /** max_messages of the pull, as the engine computes it. */
  pull: number;
  /** max_ack_pending of the consumers, as the engine sets it (maxInflight). */
  maxAckPending: number;
  /** The local services' pids (label -> pids), for their CPU. */
  services: Record<string, number[]>;
}
