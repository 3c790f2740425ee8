import { Subscription, type SchedulerAction, type SchedulerLike } from 'rxjs';

/**
 * Virtual time for services that take a scheduler and a clock (the tier manager's scans, lease
 * renewals, the copy's slowness): `advance(ms)` runs what is due in time order, letting the
 * promises each step starts settle before the next. A clock has lanes, one per simulated
 * process: `lane.freeze()` stalls that process's timers (a paused or starved process: its claims
 * stop being renewed) while time goes on for the others; `thaw()` lets them fire again.
 */
export class VirtualClock {
  private t: number;
  private seq = 0;
  readonly queue = new Set<VirtualAction>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }

  now = (): number => this.t;

  /** A scheduler for one simulated process. */
  lane(): VirtualLane {
    return new VirtualLane(this);
  }

  /** @internal */
  enqueue(a: VirtualAction): void {
    a.order = this.seq++;
    this.queue.add(a);
  }

  /** Moves time on by `ms`, running every timer of an unfrozen lane that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const until = this.t + ms;
    await settle(); // what the caller just set going runs first
    for (;;) {
      let next: VirtualAction | undefined;
      for (const a of this.queue) {
        if (a.lane.frozen || a.due > until) continue;
        if (!next || a.due < next.due || (a.due === next.due && a.order < next.order)) next = a;
      }
      if (!next) break;
      this.queue.delete(next);
      this.t = Math.max(this.t, next.due);
      next.run();
      await settle();
    }
    this.t = until;
    await settle();
  }

  /** Advances in steps of `stepMs` until `cond` holds (or `maxMs` passed: throws). */
  async until(cond: () => boolean | Promise<boolean>, what: string, maxMs = 120_000, stepMs = 50): Promise<void> {
    for (let waited = 0; waited <= maxMs; waited += stepMs) {
      if (await cond()) return;
      await this.advance(stepMs);
    }
    throw new Error(`virtual time: ${what} not reached in ${maxMs} ms`);
  }
}

/** Lets promise chains started by a timer run to their next real wait. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

export class VirtualLane implements SchedulerLike {
  frozen = false;
  constructor(readonly clock: VirtualClock) {}
  now(): number {
    return this.clock.now();
  }
  schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay = 0, state?: T): Subscription {
    return new VirtualAction(this, work as (this: SchedulerAction<unknown>, state?: unknown) => void).schedule(state, delay);
  }
  freeze(): void {
    this.frozen = true;
  }
  thaw(): void {
    this.frozen = false;
  }
}

class VirtualAction extends Subscription implements SchedulerAction<unknown> {
  due = 0;
  order = 0;
  private state: unknown;

  constructor(readonly lane: VirtualLane, private readonly work: (this: SchedulerAction<unknown>, state?: unknown) => void) {
    super(() => lane.clock.queue.delete(this));
  }

  schedule(state?: unknown, delay = 0): Subscription {
    if (this.closed) return this;
    this.state = state;
    this.due = this.lane.clock.now() + delay;
    this.lane.clock.enqueue(this);
    return this;
  }

  run(): void {
    if (!this.closed) this.work.call(this, this.state);
  }
}
