/**
 * NATS and JetStream errors told apart by the client's codes, not by their messages: the
 * connection's `code` (nats.js `ErrorCode`: `TIMEOUT`, `503` for no responders or JetStream
 * unavailable) and, for a JetStream API refusal, the server's `api_error` (`code`, an HTTP-like
 * status, and `err_code`, the stable number of nats-server's errors.json). Imports nothing: the
 * ingest service and the producer take it as they take names.ts.
 */

/** The `err_code`s of nats-server's errors.json that tierstream tells apart. */
export const JS_ERR = {
  /** JSClusterNoPeersErr: no suitable peers for placement (a cluster short of nodes for now). */
  noSuitablePeers: 10005,
  /** JSClusterNotAvailErr: JetStream system temporarily unavailable. */
  clusterNotAvailable: 10008,
  /** JSConsumerNameExistErr: consumer name already in use. */
  consumerNameExists: 10013,
  /** JSConsumerNotFoundErr. */
  consumerNotFound: 10014,
  /** JSNoMessageFoundErr. */
  noMessageFound: 10037,
  /** JSStreamNameExistErr: stream name already in use with a different configuration. */
  streamNameExists: 10058,
  /** JSStreamNotFoundErr. */
  streamNotFound: 10059,
  /** JSConsumerExistingActiveErr: consumer already exists and is still active. */
  consumerExistingActive: 10105,
  /** JSConsumerAlreadyExists: consumer already exists (a create of one that does). */
  consumerAlreadyExists: 10148,
} as const;

interface NatsErrorShape {
  code?: unknown;
  api_error?: { code?: number; err_code?: number };
}

const shape = (err: unknown): NatsErrorShape => (err !== null && typeof err === 'object' ? (err as NatsErrorShape) : {});

/** The JetStream API's `err_code` of a refusal, or undefined for any other error. */
export const jsErrCode = (err: unknown): number | undefined => shape(err).api_error?.err_code;

/** A JetStream API refusal because the stream, consumer or message is not there (status 404). */
export const isJsNotFound = (err: unknown): boolean => shape(err).api_error?.code === 404;

const EXISTS = new Set<number>([JS_ERR.streamNameExists, JS_ERR.consumerNameExists, JS_ERR.consumerExistingActive, JS_ERR.consumerAlreadyExists]);

/** A create refused because a stream or consumer of that name exists (made meanwhile by another process). */
export const isJsAlreadyExists = (err: unknown): boolean => EXISTS.has(jsErrCode(err) ?? 0);

/**
 * A JetStream API call that timed out or found JetStream unavailable for now (a cluster
 * electing a leader, a stream moving its replicas, a node that just started): worth retrying.
 * nats.js gives a JetStream 503 (temporarily unavailable) the code `503`, as it gives no
 * responders; a 408 is a request timeout.
 */
export function isTransientNatsError(err: unknown): boolean {
  const e = shape(err);
  if (e.code === 'TIMEOUT' || e.code === '503' || e.code === '408') return true;
  const jsCode = e.api_error?.err_code;
  return jsCode === JS_ERR.clusterNotAvailable || jsCode === JS_ERR.noSuitablePeers;
}
