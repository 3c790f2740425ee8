/**
 * Open-loop HTTP load from a child process: requests at a fixed rate R for D seconds,
 * whatever the answers do, each timed from when it was DUE, not when it went out.
 *
 * Request i is due at start + i / R. A clock thread (a worker that sleeps in Atomics.wait,
 * which keeps microseconds, where Node's timers keep whole milliseconds and went out up to
 * 1.2 ms late at p99) wakes the main thread at each due time, and the main thread sends every
 * request due by then; a slow answer never holds the next request back (a closed loop would
 * wait for it, and so hide the queueing a real caller sees). Its
 * latency runs from the due time (process.hrtime, microseconds) to the end of its response, so
 * time the request waited anywhere, in the generator's timer, in a socket queue or in the
 * server, counts. The generator's own share is reported apart: `sendLagMs` is how late each
 * request went out, `fromSendMs` the latency from the send.
 *
 * Sockets: a keep-alive node:http Agent with `sockets` sockets, far more than the rate needs,
 * so a request never waits for a free one; `queuedForSocket` counts those that did. A warm-up
 * at the same rate runs first and opens the sockets, and flows straight into the measured
 * window. Runs in its own process (load-child.ts): its CPU is measured apart, and it shares
 * no event loop with the benchmark or the server.
 */
import { Agent, request, type OutgoingHttpHeaders } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { latencySummary, ms3, runLoadChild, serveLoadChild, type LatencyMs, type LoadChildEvents } from './load-child.js';

export interface OpenLoopOptions {
  url: string;
  headers: Record<string, string>;
  /** POST bodies, sent in turn. */
  bodies: string[];
  /** Requests per second, offered whatever the answers do. */
  rate: number;
  /** Seconds of requests measured (rate x duration requests). */
  durationSeconds: number;
  /** Seconds of requests at the same rate just before, not measured. */
  warmupSeconds: number;
  /** Keep-alive sockets the agent may open. */
  sockets: number;
  /** A request not answered this long after it was due is an error (timeout), ms. */
  timeoutMs: number;
}

export interface OpenLoopResult {
  rate: number;
  /** Requests due in the measured window (rate x duration). */
  requests: number;
  /** Answered, any status. */
  answered: number;
  /** Socket errors and timeouts. */
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** First due time to last answer, s. */
  seconds: number;
  /** Answers per second over the window. */
  answeredPerSecond: number;
  /** Latency from the due time to the end of the response, answered requests, ms (3 decimals). */
  latencyMs: LatencyMs;
  /** Latency from the send to the end of the response, ms. */
  fromSendMs: LatencyMs;
  /** How late after its due time each request was sent: the generator's own delay, ms. */
  sendLagMs: LatencyMs;
  /** Of that, how late the clock thread woke (the OS's wake-up, before any of our code ran), ms. */
  clockLagMs: LatencyMs;
  /** Most requests in flight at once, and requests that found every socket busy. */
  peakInflight: number;
  queuedForSocket: number;
  sockets: number;
  /** CPU seconds of the generator process during the measured window, and per request (us). */
  cpuSeconds: number;
  cpuUsPerRequest: number;
}

const thisFile = fileURLToPath(import.meta.url);

/** Runs the open loop in a child process and resolves with its result (see load-child.ts). */
export function runOpenLoop(opts: OpenLoopOptions, events?: LoadChildEvents): Promise<OpenLoopResult> {
  return runLoadChild<OpenLoopOptions, OpenLoopResult>(thisFile, opts, events);
}

/** Microseconds since this process's first call. */
const T0 = process.hrtime.bigint();
const nowUs = () => Number(process.hrtime.bigint() - T0) / 1_000;

/**
 * The clock thread (plain JavaScript, evaluated): sleeps until each due time and posts the
 * index of the last request due and when it woke. Atomics.wait sleeps in the kernel (a futex with a timeout in
 * nanoseconds), so the thread costs nothing between due times.
 */
const CLOCK = `
const { parentPort, workerData: { t0, start, intervalUs, total } } = require('node:worker_threads');
const cell = new Int32Array(new SharedArrayBuffer(4));
const nowUs = () => Number(process.hrtime.bigint() - t0) / 1000;
for (let i = 0; i < total;) {
  const wait = start + i * intervalUs - nowUs();
  if (wait > 0) { Atomics.wait(cell, 0, 0, wait / 1000); continue; }
  const t = nowUs();
  let upTo = i;
  while (upTo + 1 < total && start + (upTo + 1) * intervalUs <= t) upTo++;
  parentPort.postMessage([upTo, t]);
  i = upTo + 1;
}
`;

async function child(o: OpenLoopOptions, window: (edge: 'start' | 'end') => void): Promise<OpenLoopResult> {
  const url = new URL(o.url);
  const agent = new Agent({ keepAlive: true, maxSockets: o.sockets, maxFreeSockets: o.sockets });
  const bodies = o.bodies.map((b) => Buffer.from(b));
  const headers: OutgoingHttpHeaders[] = bodies.map((b) => ({ ...o.headers, 'content-length': b.length }));
  const warmup = Math.round(o.rate * o.warmupSeconds);
  const measured = Math.round(o.rate * o.durationSeconds);
  const total = warmup + measured;
  const intervalUs = 1e6 / o.rate;

  const fromDue = new Float64Array(measured);
  const fromSend = new Float64Array(measured);
  const sendLag = new Float64Array(measured);
  const clockLag = new Float64Array(measured);
  const answered = new Uint8Array(measured);
  const statusCodes: Record<string, number> = {};
  let nAnswered = 0, errors = 0, timeouts = 0, non2xx = 0, inflight = 0, peakInflight = 0, queuedForSocket = 0;
  let lastAnswerUs = 0;
  let settled = 0; // measured requests answered or failed
  let allSettled: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allSettled = resolve));
  let cpuStart = process.cpuUsage();
  let cpuUsed = { user: 0, system: 0 };

  const start = nowUs() + 50_000; // first due time, 50 ms from now
  const dueUs = (i: number) => start + i * intervalUs;
  const windowStartUs = dueUs(warmup);

  const settle = (i: number) => {
    inflight--;
    if (i < warmup) return;
    if (++settled === measured) {
      cpuUsed = process.cpuUsage(cpuStart);
      window('end');
      allSettled();
    }
  };

  const fire = (i: number) => {
    const due = dueUs(i);
    const sent = nowUs();
    const k = i - warmup;
    if (k >= 0) sendLag[k] = (sent - due) / 1000;
    if (inflight >= o.sockets) queuedForSocket += k >= 0 ? 1 : 0;
    if (++inflight > peakInflight && k >= 0) peakInflight = inflight;
    let finished = false;
    const finish = (what: 'ok' | 'error' | 'timeout', status?: number) => {
      if (finished) return;
      finished = true;
      if (k >= 0) {
        if (what === 'ok') {
          const end = nowUs();
          fromDue[k] = (end - due) / 1000;
          fromSend[k] = (end - sent) / 1000;
          answered[k] = 1;
          nAnswered++;
          lastAnswerUs = Math.max(lastAnswerUs, end);
          statusCodes[String(status)] = (statusCodes[String(status)] ?? 0) + 1;
          if (status! < 200 || status! >= 300) non2xx++;
        } else {
          errors++;
          if (what === 'timeout') timeouts++;
        }
      }
      settle(i);
    };
    const b = i % bodies.length;
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: headers[b] },
      (res) => {
        res.on('data', () => undefined);
        res.once('end', () => finish('ok', res.statusCode));
        res.once('error', () => finish('error'));
      },
    );
    req.once('error', () => finish('error'));
    // Measured from the due time, so a request late out of the generator times out no later.
    req.setTimeout(Math.max(1, o.timeoutMs - (sent - due) / 1000), () => {
      finish('timeout');
      req.destroy();
    });
    req.end(bodies[b]);
  };

  let next = 0;
  const clock = new Worker(CLOCK, { eval: true, workerData: { t0: T0, start, intervalUs, total } });
  clock.on('message', ([upTo, wokeUs]: [number, number]) => {
    while (next <= upTo && next < total) {
      if (next >= warmup) clockLag[next - warmup] = (wokeUs - dueUs(next)) / 1000;
      if (next === warmup) {
        window('start');
        cpuStart = process.cpuUsage();
      }
      fire(next++);
    }
  });
  const clockFailed = new Promise<never>((_, reject) => clock.once('error', reject));
  await Promise.race([done, clockFailed]);
  await clock.terminate();
  agent.destroy();

  const used = cpuUsed;
  const cpuSeconds = (used.user + used.system) / 1e6;
  const pick = (a: Float64Array) => a.filter((_, k) => answered[k] === 1);
  const seconds = (lastAnswerUs - windowStartUs) / 1e6;
  return {
    rate: o.rate,
    requests: measured,
    answered: nAnswered,
    errors, timeouts, non2xx, statusCodes,
    seconds: ms3(seconds),
    answeredPerSecond: Math.round(nAnswered / seconds),
    latencyMs: latencySummary(pick(fromDue)),
    fromSendMs: latencySummary(pick(fromSend)),
    sendLagMs: latencySummary(sendLag),
    clockLagMs: latencySummary(clockLag),
    peakInflight, queuedForSocket, sockets: o.sockets,
    cpuSeconds: Math.round(cpuSeconds * 1000) / 1000,
    cpuUsPerRequest: Math.round((cpuSeconds * 1e6) / measured),
  };
}

serveLoadChild(import.meta.url, child);
