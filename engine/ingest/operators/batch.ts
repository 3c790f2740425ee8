import { bufferTime, filter, type OperatorFunction, type SchedulerLike, asyncScheduler } from 'rxjs';

/**
 * Groups items into batches of at most `maxSize`, emitted when full or `maxWaitMs` after the
 * batch opened, whichever is first. Empty windows emit nothing. On completion the open batch
 * is flushed, which is what lets a draining engine finish its work.
 */
export function batch<T>(maxSize: number, maxWaitMs: number, scheduler: SchedulerLike = asyncScheduler): OperatorFunction<T, T[]> {
  return (source) =>
    source.pipe(
      bufferTime(maxWaitMs, null, maxSize, scheduler),
      filter((items) => items.length > 0),
    );
}
