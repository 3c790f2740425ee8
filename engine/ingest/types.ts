/**
 * The ingest engine's port to its broker: what engine.ts needs from JetStream, and no more.
 * jetstream-broker.ts implements it on NATS; test/support/memory-broker.ts in memory.
 */
import type { AckMode } from './acks.js';

/**
 * A message taken from the durable consumer. The shape is a subset of nats.js's `JsMsg`, so
 * the JetStream adapter hands its messages on as they come (no copy per message).
 */
export interface IngestMsg {
  readonly data: Uint8Array;
  readonly subject: string;
  /** Stream sequence. */
  readonly seq: number;
  readonly info: {
    /** 1 on the first delivery. */
    readonly redeliveryCount: number;
    /** When the stream stored the message, ns since the epoch: the event's publication time. */
    readonly timestampNanos: number;
  };
  /** Acknowledges it (on a cumulative consumer, every lower sequence too). */
  ack(): void;
  /** Asks for it again, after `delayMs` if given. */
  nak(delayMs?: number): void;
  /** Never delivers it again. */
  term(): void;
  /** Restarts its ack wait: it is being worked on. */
  working(): void;
}

/** The streams and consumer as the engine wants them. */
export interface BrokerSetup {
  dedupWindowMs: number;
  /** How long events stay in the stream, ms. */
  maxAgeMs: number;
  /** Most bytes the events stream holds (-1: unbounded). */
  maxBytes: number;
  /** Redelivery time of a message delivered and never settled, ms. */
  ackWaitMs: number;
  /** Messages delivered and unsettled at most: the server delivers no more meanwhile. */
  maxAckPending: number;
  /** The consumer's acknowledgement when this call creates it; an existing one keeps its own. */
  ackMode: AckMode;
  replicas: number;
}

/** The consumer's backlog and the events stream's fill, for /metrics. */
export interface BrokerBacklog {
  /** Not delivered yet. */
  pending: number;
  /** Delivered and not acknowledged. */
  ackPending: number;
  /** Bytes the stream holds and its bound (-1: unbounded). */
  bytes: number;
  maxBytes: number;
  /** Messages the stream holds and its bound (-1: unbounded). */
  stored: number;
  maxMessages: number;
}

/** A running pull of the consumer's messages. */
export interface BrokerSubscription {
  /** Stops pulling; messages already pulled are still handed over. */
  close(): Promise<unknown>;
  /** Resolves when the pull ended: with an error if it ended for good by itself. */
  closed(): Promise<void | Error>;
}

/** A message written to the dead-letter stream instead of history. */
export interface DeadLetterOut {
  /** The message's stream sequence: redeliveries of it are dead-lettered once. */
  seq: number;
  subject: string;
  data: Uint8Array;
  code: string;
  message: string;
}

export interface IngestBroker {
  /** Creates the events and dead-letter streams and the durable consumer when missing, updates their settings otherwise. */
  setUp(setup: BrokerSetup): Promise<void>;
  /** How the durable consumer acknowledges. */
  ackMode(): Promise<AckMode>;
  /**
   * Replaces the consumer by one acknowledging with `mode` that delivers from the old one's
   * ack floor on (unless it already has that mode and not `force`). Only for a process that
   * consumes alone.
   */
  replaceConsumer(mode: AckMode, force?: boolean): Promise<{ fromSeq: number; replaced: boolean }>;
  /** Messages delivered and not acknowledged, by whoever took them. */
  unacknowledged(): Promise<number>;
  /**
   * Pulls messages, `maxMessages` per request, handing each to `callback` as it arrives (no
   * promise per message). Backpressure is the consumer's `maxAckPending`.
   */
  consume(opts: { maxMessages: number; callback: (msg: IngestMsg) => void }): Promise<BrokerSubscription>;
  backlog(): Promise<BrokerBacklog>;
  /** Removes the oldest acknowledged events when the stream is near its bound; returns how many. */
  trimIngested(): Promise<number>;
  /** Writes a dead letter (idempotent per sequence). */
  deadLetter(letter: DeadLetterOut): Promise<void>;
  /** Whether a failure of the calls above may pass by itself (the broker electing a leader). */
  isTransient(err: unknown): boolean;
}
