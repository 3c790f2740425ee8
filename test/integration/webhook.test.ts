import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { createNotifier, type NoticeChannel } from '../../engine/notices/index.js';
import type { SourceRegistry } from '../../core/index.js';

/**
 * Webhook deliveries against receivers that misbehave (issue 22, finding 2), each a real HTTP
 * server on 127.0.0.1: every delivery ends within its timeout, whatever the garbage collector
 * does meanwhile, and an answer's body is never read whole.
 */
const test = suite('webhook');

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TIMEOUT_MS = 400;

/** A notifier whose channel hands `deliver` to the test instead of reading a stream. */
async function notifierFor(url: string) {
  let deliver: ((body: Uint8Array) => Promise<boolean>) | undefined;
  const channel: NoticeChannel = {
    publish: async () => undefined,
    consume: (d, { signal }) => {
      deliver = d;
      return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  };
  const registry = { onChange: () => undefined, list: () => [] } as unknown as SourceRegistry;
  const notifier = createNotifier({ registry, channel, log: pino({ level: 'silent' }) }, { webhook: { url, secret: 'a-test-secret-of-some-length' }, webhookTimeoutMs: TIMEOUT_MS });
  notifier.start();
  return { notifier, deliver: (text: string) => deliver!(Buffer.from(text)) };
}

async function receiver(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
  };
}

/** The delivery's answer and how long it took, collecting garbage meanwhile; fails after `boundMs`. */
async function timed(delivery: Promise<boolean>, boundMs: number): Promise<{ ok: boolean; ms: number }> {
  const start = performance.now();
  const collect = setInterval(gc, 20);
  let bound: NodeJS.Timeout | undefined;
  try {
    const ok = await Promise.race([delivery, new Promise<never>((_, reject) => (bound = setTimeout(() => reject(new Error(`delivery still running after ${boundMs} ms`)), boundMs)))]);
    return { ok, ms: performance.now() - start };
  } finally {
    clearInterval(collect);
    clearTimeout(bound);
  }
}

test('a receiver that never answers: each delivery ends at the timeout, garbage collected or not', async () => {
  const r = await receiver(() => undefined);
  const { notifier, deliver } = await notifierFor(r.url);
  try {
    for (let i = 0; i < 3; i++) {
      const { ok, ms } = await timed(deliver('{"n":1}'), TIMEOUT_MS + 2_000);
      assert.is(ok, false);
      assert.ok(ms >= TIMEOUT_MS - 50 && ms < TIMEOUT_MS + 1_000, `ended after ${ms.toFixed(0)} ms`);
    }
  } finally {
    await notifier.stop();
    await r.close();
  }
});

test('a receiver that trickles its answer: the delivery ends at the timeout, not at the end of the body', async () => {
  const r = await receiver((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    const drip = setInterval(() => res.write('.'), 50);
    res.on('close', () => clearInterval(drip));
  });
  const { notifier, deliver } = await notifierFor(r.url);
  try {
    const { ok, ms } = await timed(deliver('{"n":1}'), TIMEOUT_MS + 2_000);
    assert.is(ok, false, 'an answer that does not end in time is no delivery');
    assert.ok(ms < TIMEOUT_MS + 1_000, `ended after ${ms.toFixed(0)} ms`);
  } finally {
    await notifier.stop();
    await r.close();
  }
});

test('a receiver that answers a huge body: a few KB are read, the rest never, memory stays flat', async () => {
  const TOTAL = 256 * 1024 * 1024;
  let written = 0;
  const chunk = Buffer.alloc(1024 * 1024, 120);
  const r = await receiver((req, res) => {
    req.resume();
    res.writeHead(500, { 'content-type': 'text/plain', 'content-length': String(TOTAL) });
    const pump = () => {
      while (written < TOTAL && !res.destroyed) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const { notifier, deliver } = await notifierFor(r.url);
  const used = () => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
  try {
    gc();
    const before = used();
    let peak = before;
    const sample = setInterval(() => (peak = Math.max(peak, used())), 5);
    const { ok } = await timed(deliver('{"n":1}'), 5_000).finally(() => clearInterval(sample));
    peak = Math.max(peak, used());
    assert.is(ok, false);
    assert.ok(peak - before < 32 * 1024 * 1024, `memory grew by ${((peak - before) / 1048576).toFixed(0)} MB`);
    // The socket's buffers hold a few MB; the rest of the body is never sent.
    await new Promise((res) => setTimeout(res, 200));
    assert.ok(written < 64 * 1024 * 1024, `the receiver wrote ${(written / 1048576).toFixed(0)} MB`);
  } finally {
    await notifier.stop();
    await r.close();
  }
});

test.run();
