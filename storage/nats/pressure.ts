import type { NatsConnection, Subscription } from 'nats';
import type { LookupPressure } from '../../core/index.js';
import { natsNames } from './names.js';

/**
 * Lookup pressure between processes (core/pressure.ts), on the namespace's core NATS subject,
 * so several API and ingest processes, on any host, hear each other: API processes signal while
 * lookups take longer than their target; background writers, once listening, yield Redis for
 * `holdMs` after each signal.
 */
export class NatsPressureChannel implements LookupPressure {
  private readonly subject: string;
  private pressedUntil = 0;
  private sub: Subscription | undefined;

  constructor(private readonly nc: NatsConnection, namespace: string, private readonly holdMs: number) {
    this.subject = natsNames(namespace).pressureSubject;
  }

  /** Starts hearing signals; `onSignal` is called for each (to count them). */
  listen(onSignal: () => void = () => undefined): void {
    this.sub ??= this.nc.subscribe(this.subject, {
      callback: () => {
        this.pressedUntil = Date.now() + this.holdMs;
        onSignal();
      },
    });
  }

  /** True for holdMs after the last signal heard (never before listen()). */
  pressed(): boolean {
    return Date.now() < this.pressedUntil;
  }

  /** Tells every listening process that lookups took `worstMs` (above the target). */
  signal(worstMs: number): void {
    this.nc.publish(this.subject, JSON.stringify({ worstMs: Math.round(worstMs * 1000) / 1000 }));
  }

  close(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }
}
