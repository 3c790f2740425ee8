/** How `retrying` paces and bounds its attempts. */
export interface RetryPolicy {
  /** Errors worth another attempt (a timeout, a service not ready yet); any other is thrown at once. */
  retryable: (err: unknown) => boolean;
  /** Attempts in all, the first included. */
  attempts: number;
  /** The wait after attempt `n` (1-based) failed: exponential from `baseMs`, at most `maxMs`. */
  baseMs: number;
  maxMs: number;
  /** Stops retrying (the last error is thrown) once aborted. */
  signal?: AbortSignal;
  /** Called before each wait (logging, metrics). */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `fn`'s result, trying again after a retryable failure until the policy's attempts run out. */
export async function retrying<T>(fn: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  const sleep = policy.sleep ?? pause;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!policy.retryable(err) || attempt >= policy.attempts || policy.signal?.aborted) throw err;
      const waitMs = Math.min(policy.baseMs * 2 ** (attempt - 1), policy.maxMs);
      policy.onRetry?.(err, attempt, waitMs);
      await sleep(waitMs);
    }
  }
}
