/**
 * `p`, or a rejection with `late()` if it has not settled within `ms`. The timer is cleared
 * once either happens and never keeps the process alive; `p` goes on in the background.
 */
export function withDeadline<T>(p: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
    timer.unref();
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}
