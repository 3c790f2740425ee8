/**
 * Runs `tasks` with at most `maxInFlight` of them running at a time, starting each in the
 * iterable's order as one before it finishes. The iterable is read lazily, so a generator makes
 * its tasks only as workers free up. Resolves when every task has finished; rejects with the
 * first failure, after which no further task starts (those running are not waited for).
 * `maxInFlight` may be Infinity only for an array (all of it at once).
 */
export async function runPool(tasks: Iterable<() => Promise<unknown>>, maxInFlight: number): Promise<void> {
  const workers = Array.isArray(tasks) ? Math.min(maxInFlight, tasks.length) : maxInFlight;
  if (!(workers >= 0) || !Number.isFinite(workers) || (workers === 0 && !Array.isArray(tasks))) throw new RangeError(`runPool: maxInFlight must be a positive number (Infinity only for an array), got ${maxInFlight}`);
  const it = tasks[Symbol.iterator]();
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed) {
      const r = it.next();
      if (r.done) return;
      try {
        await r.value();
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
}
