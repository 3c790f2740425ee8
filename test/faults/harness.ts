/**
 * The pieces of the fault scenarios: a ledger of what was published and acknowledged, the
 * checker, engine processes, private NATS and Redis servers that can be restarted, and a
 * TCP proxy that takes ClickHouse away or makes it slow.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { pino } from 'pino';
import { configFromEnv, type Config } from '../../config.js';
import { createTierstream, type Tierstream } from '../../runtime.js';
import { decodeEvent, foldEvents, sourceName, type InteractionEvent, type SourceRef } from '../../core/index.js';
import { natsNames } from '../../storage/nats/index.js';
import { generateEvents, type WireEvent } from '../../scripts/generate.js';
import { cleanup, eventually, hotState } from '../integration/helpers.js';

export const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** One row of the table `npm run test:faults` prints. */
export interface Verdict {
  scenario: string;
  events: number;
  lost: number;
  unexpected: number;
  duplicates: number;
  hotMismatches: number;
  seconds: number;
  /** What else the scenario measured or asserted (each a short line). */
  notes: string[];
  /** Scenario-specific assertions that failed. */
  failures: string[];
}

export const refOf = (e: WireEvent): SourceRef => (e.campaignId ? { kind: 'campaign', id: e.campaignId } : { kind: 'canvas', id: e.canvasId! });

/** Events with ids unique to this run (`prefix`), over a few campaigns and canvases. */
export function events(count: number, prefix: string, seed = 1): WireEvent[] {
  return [...generateEvents({ count, campaigns: 4, users: Math.max(50, count / 20), variants: 2, canvasShare: 0.25, seed, idPrefix: prefix })];
}

/** What producers published and which publishes JetStream acknowledged. */
export class Ledger {
  /** Every event published (by id), acknowledged or not. */
  readonly published = new Map<string, WireEvent>();
  readonly acked = new Set<string>();
  duplicateAcks = 0;
}

/**
 * Publishes `evs` to the namespace with `Nats-Msg-Id` = event id, `window` at a time. A
 * publish that fails (NATS away) is retried with the same id until `deadline`, as a real
 * producer does; the server's duplicate window makes the retry harmless.
 */
export async function produce(nc: NatsConnection, ns: string, evs: WireEvent[], ledger: Ledger, opts: { window?: number; deadlineMs?: number; paceMs?: number } = {}): Promise<void> {
  const js = nc.jetstream({ timeout: 5_000 });
  const prefix = natsNames(ns).subjectPrefix;
  const deadline = Date.now() + (opts.deadlineMs ?? 120_000);
  const window = opts.window ?? 500;
  const one = async (e: WireEvent) => {
    ledger.published.set(e.id, e);
    for (;;) {
      try {
        const h = natsHeaders();
        h.set('Nats-Msg-Id', e.id);
        const ack = await js.publish(`${prefix}${e.type}`, JSON.stringify(e), { headers: h });
        if (ack.duplicate) ledger.duplicateAcks++;
        ledger.acked.add(e.id);
        return;
      } catch (err) {
        if (Date.now() > deadline) return; // published, never acknowledged: not owed
        await sleep(200);
      }
    }
  };
  for (let i = 0; i < evs.length; i += window) {
    await Promise.all(evs.slice(i, i + window).map(one));
    if (opts.paceMs) await sleep(opts.paceMs);
  }
}

/**
 * Publishes `evs` with a fault in the middle of the stream: the first half, paced, until the
 * engine has ingested a quarter; then the second half, paced, with `fault` started beside it.
 * A fault scenario that means "during ingest" must not depend on polling catching a fast
 * engine before it finished (CI once saw 5000/5000 ingested at the fault), so the second half
 * is not yet published when the fault starts, and the check that it was still being published
 * when the fault began is a real one (`stillFlowing`).
 */
export async function produceWithFault(
  nc: NatsConnection, ns: string, evs: WireEvent[], ledger: Ledger,
  ingested: () => Promise<number>, fault: () => Promise<void>,
): Promise<{ atFault: number; stillFlowing: boolean }> {
  const half = Math.floor(evs.length / 2);
  await produce(nc, ns, evs.slice(0, half), ledger, { window: 250, paceMs: 20 });
  await eventually(async () => (await ingested()) > evs.length / 4, 'ingest under way', 60_000);
  const atFault = await ingested();
  let tailDone = false;
  const tail = produce(nc, ns, evs.slice(half), ledger, { window: 100, paceMs: 50 }).then(() => { tailDone = true; });
  await sleep(50);
  const stillFlowing = !tailDone;
  await fault();
  await tail;
  return { atFault, stillFlowing };
}

/** Waits until the engine consumer has nothing pending or awaiting ack. */
export async function drained(nc: NatsConnection, ns: string, timeoutMs = 120_000): Promise<void> {
  const jsm = await nc.jetstreamManager();
  const names = natsNames(ns);
  await eventually(async () => {
    const info = await jsm.consumers.info(names.stream, names.consumer);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, `consumer ${names.consumer} drained`, timeoutMs).catch(async (err) => {
    const info = await jsm.consumers.info(names.stream, names.consumer);
    throw new Error(`${(err as Error).message}: pending ${info.num_pending}, ack pending ${info.num_ack_pending}, redelivered ${info.num_redelivered}`);
  });
}

/**
 * The checker, against the producer's ledger (the ground truth), once the consumer drained:
 *
 * - lost: acknowledged by JetStream, not in history;
 * - unexpected: in history but never published, or under another source;
 * - duplicates: for each source, history's count of its events (`countEvents`, the maintained
 *   count the API's `counts.history` answers, docs/design.md "History counts") minus the
 *   ledger's events of that source found in history: an event counted twice in effect;
 * - hot mismatches: sources whose Redis state is not the fold of the ledger's events found
 *   in history, computed here from the producer's copies (`foldEvents`), not by the engine's
 *   restore path; a source that is not hot at the end counts as a mismatch too (every
 *   scenario ends with its sources hot).
 *
 * Notes carry what was acknowledged and how many duplicate history rows are still unmerged
 * (physical copies that redeliveries left, which the history answers absorb).
 */
export async function check(view: Tierstream, ns: string, ledger: Ledger): Promise<Pick<Verdict, 'events' | 'lost' | 'unexpected' | 'duplicates' | 'hotMismatches' | 'notes'> & { acked: number }> {
  const rows = await view.history.select<{ id: string; k: string; s: string; copies: string }>(
    `SELECT id, toString(source_kind) AS k, source_id AS s, count() AS copies FROM ${ns}.events GROUP BY id, source_kind, source_id`,
  );
  const found = new Set<string>();
  let unexpected = 0;
  let extraRows = 0;
  for (const r of rows) {
    extraRows += Number(r.copies) - 1;
    const want = ledger.published.get(r.id);
    if (!want || sourceName(refOf(want)) !== `${r.k}:${r.s}` || found.has(r.id)) unexpected++;
    found.add(r.id);
  }
  let lost = 0;
  for (const id of ledger.acked) if (!found.has(id)) lost++;

  // The ledger's events found in history, by source.
  const bySource = new Map<string, { ref: SourceRef; events: InteractionEvent[] }>();
  for (const [id, e] of ledger.published) {
    if (!found.has(id)) continue;
    const ref = refOf(e);
    const entry = bySource.get(sourceName(ref)) ?? { ref, events: [] };
    entry.events.push(decodeEvent(Buffer.from(JSON.stringify(e))));
    bySource.set(sourceName(ref), entry);
  }
  let duplicates = 0;
  let hotMismatches = 0;
  const notes: string[] = [];
  for (const [name, { ref, events: evs }] of bySource) {
    const path = `/v1/${ref.kind === 'campaign' ? 'campaigns' : 'canvases'}/${encodeURIComponent(ref.id)}`;
    const res = await view.app.inject({ method: 'GET', url: path });
    const state = res.json() as { tier?: string };
    const counted = await view.history.countEvents(ref);
    if (counted !== evs.length) {
      duplicates += Math.abs(counted - evs.length);
      notes.push(`${name}: history answers ${counted} events, the ledger has ${evs.length} of them stored`);
    }
    if (state.tier !== 'hot') {
      hotMismatches++;
      notes.push(`${name} ends ${state.tier ?? `unknown (${res.statusCode})`}, not hot`);
      continue;
    }
    const fold = foldEvents(evs)[0]!;
    const expected = Object.fromEntries(
      [...fold.indexes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, users]) => [k, Object.fromEntries([...users].sort(([a], [b]) => (a < b ? -1 : 1)))]),
    );
    if (JSON.stringify(await hotState(view, ref)) !== JSON.stringify(expected)) {
      hotMismatches++;
      notes.push(`hot state of ${name} differs from the fold of its events`);
    }
  }
  notes.push(`${ledger.acked.size} of ${ledger.published.size} publishes acknowledged; ${extraRows} duplicate history rows not merged away yet`);
  return { events: ledger.published.size, acked: ledger.acked.size, lost, unexpected, duplicates, hotMismatches, notes };
}

/** A read-only view of a namespace (API role: no consumer, no tier manager). */
export async function viewOf(ns: string, env: NodeJS.ProcessEnv = {}): Promise<Tierstream> {
  return createTierstream({ ...configOf(ns, env), role: 'api' }, { log: pino({ level: 'silent' }) });
}

export function configOf(ns: string, env: NodeJS.ProcessEnv = {}): Config {
  return configFromEnv({ ...process.env, ...env, TIERSTREAM_NAMESPACE: ns });
}

/** Removes what the namespace owns on the shared servers and closes the view. */
export async function teardown(view: Tierstream, ns: string): Promise<void> {
  // cleanup closes the view last; if a step failed half-way, close it here.
  await cleanup(view, ns).catch(() => view.close().catch(() => undefined));
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * An engine + API process on its own port: `engine-child.ts` (ingest and the API in one
 * process, as `main.ts` ran them before the process split) so that a SIGKILL kills ingest
 * itself mid-batch, not a supervisor whose children would then drain gracefully. The split is
 * tested in test/integration/processes.test.ts.
 */
export class EngineProcess {
  private static readonly live = new Set<EngineProcess>();

  /** Kills every engine process still running (a scenario that failed half-way leaves some). */
  static async killAll(): Promise<void> {
    await Promise.all([...EngineProcess.live].map((e) => e.kill('SIGKILL')));
  }

  static {
    process.once('exit', () => {
      for (const e of EngineProcess.live) e.child.kill('SIGKILL');
    });
  }

  child!: ChildProcess;
  port = 0;
  exits = 0;
  stderr = '';

  constructor(
    readonly ns: string,
    readonly env: NodeJS.ProcessEnv = {},
    readonly entry = join(root, 'test/faults/engine-child.ts'),
  ) {}

  async start(extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    this.port = await freePort();
    this.child = spawn(process.execPath, ['--import', 'tsx', this.entry], {
      cwd: root,
      env: {
        ...process.env,
        TIERSTREAM_NAMESPACE: this.ns,
        PORT: String(this.port),
        LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'error',
        TIERSTREAM_ACK_WAIT_MS: '3000',
        TIERSTREAM_BATCH_SIZE: '1000',
        TIER_EXPIRE_AFTER: 'PT2S',
        TIER_SCAN_INTERVAL: 'PT0.2S',
        ...this.env,
        ...extraEnv,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4_000);
      if (process.env.FAULTS_LOG_LEVEL) process.stderr.write(b);
    });
    EngineProcess.live.add(this);
    this.child.once('exit', () => {
      this.exits++;
      EngineProcess.live.delete(this);
    });
    await eventually(async () => (this.alive ? (await this.http('GET', '/healthz')).status === 200 : Promise.reject(new Error(`engine exited: ${this.stderr}`))), 'engine listening', 60_000);
  }

  get alive(): boolean {
    return running(this.child);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return stopProcess(this.child, signal);
  }

  /** Resolves when the process exits by itself (a fault hook killed it); rejects after `timeoutMs`. */
  exited(timeoutMs = 60_000): Promise<void> {
    if (!this.alive) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`engine still alive after ${timeoutMs} ms: its fault hook never fired`)), timeoutMs);
      this.child.once('exit', () => (clearTimeout(timer), resolve()));
    });
  }

  async http(method: string, path: string, body?: object): Promise<{ status: number; body: any }> {
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      method,
      ...(body && { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* /metrics is text */
    }
    return { status: res.status, body: parsed };
  }

  /** One sample of a Prometheus metric (summed over its labels). */
  async metric(name: string): Promise<number> {
    const { body } = await this.http('GET', '/metrics');
    let sum = 0;
    for (const line of String(body).split('\n')) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }
}

/** A NATS server with JetStream of our own (port, store dir), restartable with its data. */
export class PrivateNats {
  proc?: ChildProcess;
  readonly dir = mkdtempSync(join(tmpdir(), 'ts-nats-'));
  port = 0;

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    this.proc = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.dir], { stdio: 'ignore' });
    await eventually(async () => {
      const nc = await connect({ servers: this.url, reconnect: false, timeout: 500 }).catch(() => undefined);
      if (!nc) return false;
      await nc.close();
      return true;
    }, 'private nats-server up', 15_000);
  }

  get running(): boolean {
    return running(this.proc);
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return stopProcess(this.proc, signal);
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Redis server of our own without persistence: a restart brings it back empty. */
export class PrivateRedis {
  proc?: ChildProcess;
  port = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await eventually(() => pingTcp(this.port), 'private redis-server up', 15_000);
  }

  get running(): boolean {
    return running(this.proc);
  }

  stop(): Promise<void> {
    return stopProcess(this.proc, 'SIGKILL');
  }
}

/** Whether a child process has started and not exited. */
function running(p: ChildProcess | undefined): p is ChildProcess {
  return p !== undefined && p.exitCode === null && p.signalCode === null;
}

/** Sends `signal` to a running child process and resolves once it exited. */
async function stopProcess(p: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!running(p)) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  await exited;
}

async function pingTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/**
 * A TCP proxy in front of a server: `pass`, `down` (existing connections cut, new ones
 * refused: the server is gone as far as the client can tell) or `slow` (every chunk held
 * `delayMs` in each direction, order kept).
 */
export class FaultProxy {
  private server?: net.Server;
  private sockets = new Set<net.Socket>();
  mode: { kind: 'pass' } | { kind: 'down' } | { kind: 'slow'; delayMs: number } = { kind: 'pass' };
  port = 0;

  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.mode.kind === 'down') return void client.destroy();
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      this.pipe(client, upstream);
      this.pipe(upstream, client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  private pipe(from: net.Socket, to: net.Socket): void {
    let chain = Promise.resolve();
    from.on('data', (chunk) => {
      if (this.mode.kind !== 'slow') return void to.write(chunk);
      const delay = this.mode.delayMs;
      from.pause();
      chain = chain.then(async () => {
        await sleep(delay);
        if (!to.destroyed) to.write(chunk);
        from.resume();
      });
    });
  }

  down(): void {
    this.mode = { kind: 'down' };
    for (const s of this.sockets) s.destroy();
  }

  slow(delayMs: number): void {
    this.mode = { kind: 'slow', delayMs };
  }

  pass(): void {
    this.mode = { kind: 'pass' };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server?.close(r));
  }
}

/** Runs `fn` as a scenario: times it, and turns a thrown error into a failure. */
export async function scenario(name: string, fn: (v: Verdict) => Promise<void>): Promise<Verdict> {
  const v: Verdict = { scenario: name, events: 0, lost: 0, unexpected: 0, duplicates: 0, hotMismatches: 0, seconds: 0, notes: [], failures: [] };
  const t = performance.now();
  try {
    await fn(v);
  } catch (err) {
    v.failures.push(err instanceof Error ? err.message : String(err));
  }
  v.seconds = Math.round((performance.now() - t) / 100) / 10;
  return v;
}

export function expect(v: Verdict, ok: boolean, what: string): void {
  if (!ok) v.failures.push(what);
}

/** Copies the checker's numbers into the verdict. */
export function record(v: Verdict, c: Awaited<ReturnType<typeof check>>): void {
  Object.assign(v, { events: c.events, lost: c.lost, unexpected: c.unexpected, duplicates: c.duplicates, hotMismatches: c.hotMismatches });
  v.notes.push(...c.notes);
  // "lost = 0" means little if JetStream acknowledged few of the publishes.
  expect(v, c.acked >= 0.9 * c.events, `JetStream acknowledged at least 90% of the publishes (${c.acked}/${c.events})`);
}

export function clean(v: Verdict): boolean {
  return v.failures.length === 0 && v.lost === 0 && v.unexpected === 0 && v.duplicates === 0 && v.hotMismatches === 0;
}

export { eventually, sleep };
