import { connect, type NatsConnection } from 'nats';
import { retrying } from '../../core/index.js';
import { isTransientNatsError } from './errors.js';

/** Tries of each JetStream set-up step before the start fails (about a minute with the backoff below). */
const START_ATTEMPTS = 16;

/**
 * Connects to NATS as a tierstream process of `namespace`; the connection never gives up
 * reconnecting (the durable consumer resumes when NATS is back).
 */
export function connectNats(servers: string | string[], namespace: string): Promise<NatsConnection> {
  return connect({ servers, name: `tierstream-${namespace}`, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
}

/** Whether the connection answers now: open, and a round trip to the server goes through. */
export async function natsAnswers(nc: NatsConnection): Promise<boolean> {
  if (nc.isClosed()) return false;
  await nc.flush();
  return true;
}

/**
 * Runs one JetStream set-up step (opening a bucket, a stream, the manager), retried on a
 * timeout or "not available" (a cluster electing a stream's leader, a node that has just
 * started, a busy server) for about a minute, as the engine's consumer set-up is; only then does
 * it reject. `onRetry` hears each retry (to log it).
 */
export function jetstreamStep(onRetry: (what: string, err: unknown, attempt: number, waitMs: number) => void) {
  return <T>(what: string, fn: () => Promise<T>): Promise<T> =>
    retrying(fn, {
      retryable: isTransientNatsError,
      attempts: START_ATTEMPTS,
      baseMs: 200,
      maxMs: 5_000,
      onRetry: (err, attempt, waitMs) => onRetry(what, err, attempt, waitMs),
    });
}
