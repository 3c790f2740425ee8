import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Where the console lives: `console/` beside `api/`. Run from the sources (`tsx`) that is the
 * repository's `console/`, bundled with esbuild at the first request; run compiled, it is
 * `dist/console/`, which `npm run build` filled with the three files already built
 * (writeConsoleAssets), so a production process never loads esbuild.
 */
export const CONSOLE_DIR = join(dirname(dirname(fileURLToPath(import.meta.url))), 'console');

/** The repository's documentation pages, beside `console/`. */
const DOCS_DIR = join(dirname(CONSOLE_DIR), 'docs');

/** The files the console is served as, by name, as `npm run build` writes them. */
const SERVED = [
  ['index.html', 'text/html; charset=utf-8'],
  ['app.css', 'text/css; charset=utf-8'],
  ['app.js', 'text/javascript; charset=utf-8'],
] as const;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

// Everything the page loads comes from this process: no CDN, no inline script or style.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const asset = (body: string | Buffer, type: string): Asset => {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return { body: buf, type, etag: `"${createHash('sha256').update(buf).digest('base64url').slice(0, 27)}"` };
};

/**
 * Builds the console's three files: the page, its stylesheet, and the TypeScript views bundled
 * by esbuild in memory. Throws with esbuild's messages when the code does not build.
 */
export async function buildConsoleAssets(dir = CONSOLE_DIR): Promise<Map<string, Asset>> {
  // Loaded on first use: processes that never serve the console never load esbuild.
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [join(dir, 'src/main.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = out.outputFiles[0]!.contents;
  const [html, css] = await Promise.all([readFile(join(dir, 'index.html')), readFile(join(dir, 'styles.css'))]);
  return new Map([
    ['index.html', asset(html, 'text/html; charset=utf-8')],
    ['app.css', asset(css, 'text/css; charset=utf-8')],
    ['app.js', asset(Buffer.from(js), 'text/javascript; charset=utf-8')],
  ]);
}

/** Writes the console's served files, built from the sources in `srcDir`, into `outDir` (`npm run build`). */
export async function writeConsoleAssets(srcDir: string, outDir: string): Promise<void> {
  const assets = await buildConsoleAssets(srcDir);
  await mkdir(outDir, { recursive: true });
  await Promise.all(SERVED.map(([name]) => writeFile(join(outDir, name), assets.get(name)!.body)));
}

/** The console's files: those written by the build when `dir` holds them, else built from the sources there. */
export async function loadConsoleAssets(dir = CONSOLE_DIR): Promise<Map<string, Asset>> {
  if (!existsSync(join(dir, 'app.js'))) return buildConsoleAssets(dir);
  const bodies = await Promise.all(SERVED.map(([name]) => readFile(join(dir, name))));
  return new Map(SERVED.map(([name, type], i) => [name, asset(bodies[i]!, type)]));
}

// One build (or read) per process, shared by every app instance (tests build many apps).
let built: Promise<Map<string, Asset>> | undefined;
const assets = () => {
  built ??= loadConsoleAssets().catch((err) => {
    built = undefined; // a later request tries again (e.g. after the file is fixed)
    throw err;
  });
  return built;
};

/**
 * The web console at `/console`: a page, a stylesheet and a script, held in memory. The routes
 * are outside `/v1`, so neither the API keys nor the rate limit apply to them; the page itself
 * calls the public `/v1` API with the key the operator enters.
 */
export function consoleRoutes(app: FastifyInstance): void {
  const send = async (name: string, req: FastifyRequest, reply: FastifyReply) => {
    const a = (await assets()).get(name)!;
    reply
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .header('etag', a.etag);
    if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
    return reply.type(a.type).send(a.body);
  };
  const hide = { schema: { hide: true } };
  app.get('/console', hide, (req, reply) => send('index.html', req, reply));
  app.get('/console/', hide, (req, reply) => send('index.html', req, reply));
  app.get('/console/app.js', hide, (req, reply) => send('app.js', req, reply));
  app.get('/console/app.css', hide, (req, reply) => send('app.css', req, reply));
  // The documentation pages the console links to (docs/*.md), as plain text: readable without
  // leaving tierstream, and no renderer to serve. Only names of that shape, only from docs/.
  app.get<{ Params: { page: string } }>('/console/docs/:page', hide, async (req, reply) => {
    if (!/^[a-z0-9-]{1,64}\.md$/.test(req.params.page)) return reply.status(404).send({ error: 'not_found', message: 'no such page' });
    let body: Buffer;
    try {
      body = await readFile(join(DOCS_DIR, req.params.page));
    } catch {
      return reply.status(404).send({ error: 'not_found', message: `no page docs/${req.params.page} in this installation` });
    }
    return reply
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .type('text/plain; charset=utf-8')
      .send(body);
  });
}
