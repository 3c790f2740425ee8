/**
 * `p`, or a rejection with `late()` if it has not settled within `ms`. The timer is cleared
 * once either happens and never keeps the process alive; `p` goes on in the background.
 * One promise and one timer per call (every /v1 request makes one): no Promise.race, no finally.
 */
export function withDeadline<T>(p: Promise<T>, ms: number, late: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(late()), ms);
    timer.unref();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
