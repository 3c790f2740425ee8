import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How long one gathering of /metrics answers requests, ms. Gathering cost about 30 ms of CPU
 * (every process's registry, aggregated): 300 requests in 7 s took 1.3 of 2 cores. Prometheus
 * scrapes every 15 s or so; a second-old answer loses nothing.
 */
export const METRICS_CACHE_MS = 1_000;

/**
 * `gather` called at most once per `ms`: requests meanwhile, and while it gathers, share its
 * text; a failure is not kept.
 */
export function cachedGathering(gather: () => Promise<string>, ms = METRICS_CACHE_MS): () => Promise<string> {
  let gathered: { text: Promise<string>; at: number } | undefined;
  return () => {
    const now = performance.now();
    if (!gathered || now - gathered.at >= ms) {
      const text = gather();
      gathered = { text, at: now };
      text.catch(() => {
        if (gathered?.text === text) gathered = undefined;
      });
    }
    return gathered.text;
  };
}

/** `host:port`, `[v6]:port`; a TypeError saying what is wrong. */
export function parseListen(spec: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535) throw new TypeError(`"${spec}" is not host:port (an IPv6 host in brackets: [::1]:9464)`);
  return { host: (m[1] ?? m[2])!, port };
}

export interface MetricsServer {
  /** Where it listens (the port chosen when 0 was asked). */
  address: AddressInfo;
  close(): Promise<void>;
}

/**
 * `/metrics` on a listen address of its own (TIERSTREAM_METRICS_LISTEN): a bare node:http
 * server, so a scraper needs no API key and never reaches the API's routes, and a process of
 * the engine role (no Fastify) serves it too. GET or HEAD /metrics only; headers and body must
 * arrive within 10 s.
 */
export async function serveMetrics(opts: { host: string; port: number; text: () => Promise<string>; contentType: string; onError?: (err: unknown) => void }): Promise<MetricsServer> {
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: only /metrics is served here\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    opts.text().then(
      (body) => res.writeHead(200, { 'content-type': opts.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => {
        opts.onError?.(err);
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('metrics not available\n');
      },
    );
  };
  const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
