import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { startStack, type Stack } from './helpers.js';

/**
 * The typed client as another service gets it (issue 27): built (`npm run build:client`: ESM
 * JavaScript and .d.ts in client/dist), packed (`npm pack`), installed from the tarball into a
 * project of its own in a temporary directory, imported there by plain Node, and making real
 * calls over HTTP to a running API; and its types checked there by tsc, a misspelt filter key
 * refused. Offline: the client's dependencies (openapi-fetch and its helpers) are packed from
 * this project's node_modules beside it, where a real consumer's npm takes them from the registry.
 */
const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const run = promisify(execFile);
const npm = (args: string[], cwd: string) => run('npm', [...args, '--no-audit', '--no-fund', '--silent'], { cwd, encoding: 'utf8' });
const ADMIN = 'pkg-admin-0123456789abc';

interface Ctx { stack: Stack; base: string; dir: string }
const test = suite<Ctx>('client package');

test.before(async (ctx) => {
  ctx.stack = await startStack(undefined, {}, { TIERSTREAM_API_KEYS: `${ADMIN}:admin` });
  await ctx.stack.ts.app.listen({ host: '127.0.0.1', port: 0 });
  ctx.base = `http://127.0.0.1:${(ctx.stack.ts.app.server.address() as AddressInfo).port}`;
  ctx.dir = await mkdtemp(join(tmpdir(), 'tierstream-consumer-'));
});
test.after(async (ctx) => {
  await ctx.stack?.stop();
  if (ctx.dir) await rm(ctx.dir, { recursive: true, force: true });
});

test('built, packed, installed into another project, imported by plain Node, calling a running API', async ({ base, dir }) => {
  await npm(['run', 'build:client'], root);
  await npm(['pack', '--pack-destination', dir], join(root, 'client'));
  await npm(['pack', '--pack-destination', dir, join(root, 'node_modules/openapi-fetch'), join(root, 'node_modules/openapi-typescript-helpers')], dir);
  const tarballs = (await readdir(dir)).filter((f) => f.endsWith('.tgz'));
  assert.ok(tarballs.some((t) => t.startsWith('tierstream-client-')), tarballs.join());
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'a-sending-service', private: true, type: 'module' }));
  await npm(['install', '--offline', '--ignore-scripts', ...tarballs.map((t) => `./${t}`)], dir);

  // Plain Node, no TypeScript, no loader: what another service runs.
  await writeFile(join(dir, 'send.mjs'), `
    import { createClient } from '@tierstream/client';
    const api = createClient({ baseUrl: process.env.BASE, key: process.env.KEY });
    const put = await api.PUT('/v1/campaigns/{id}', { params: { path: { id: 'pkg-c1' } }, body: { status: 'active' } });
    const count = await api.POST('/v1/retargeting/count', { body: { filter: { campaign: 'pkg-c1', event: 'send' } } });
    const missing = await api.POST('/v1/retargeting/count', { body: { filter: { campaign: 'pkg-nope', event: 'send' } } });
    const anonymous = await createClient({ baseUrl: process.env.BASE }).GET('/v1/campaigns/{id}', { params: { path: { id: 'pkg-c1' } } });
    console.log(JSON.stringify({ put: [put.response.status, put.data?.tier], count: count.data, missing: [missing.response.status, missing.error?.error], anonymous: anonymous.response.status }));
  `);
  const { stdout } = await run(process.execPath, ['send.mjs'], { cwd: dir, env: { ...process.env, BASE: base, KEY: ADMIN }, encoding: 'utf8' });
  assert.equal(JSON.parse(stdout), {
    put: [200, 'hot'],
    count: { count: 0, servedFrom: 'hot' },
    missing: [404, 'source_not_found'],
    anonymous: 401,
  });

  // Its types, from the installed .d.ts: a valid call compiles, a misspelt filter key does not.
  await writeFile(join(dir, 'typed.ts'), `
    import { createClient, type Schemas } from '@tierstream/client';
    const api = createClient({ baseUrl: 'http://127.0.0.1:8080' });
    const filter: Schemas['Filter'] = { or: [{ campaign: 'c1', event: 'open', within: 'P30D' }, { tag: 'spring', event: 'send' }] };
    export const ok = api.POST('/v1/retargeting/count', { body: { filter } });
    // @ts-expect-error "evnt" is no key of a leaf
    export const bad = api.POST('/v1/retargeting/count', { body: { filter: { campaign: 'c1', evnt: 'send' } } });
    export const count: Promise<number | undefined> = ok.then((r) => r.data?.count);
  `);
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const typed = await run(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', 'typed.ts'], { cwd: dir, encoding: 'utf8' })
    .then(() => 'ok', (err: { stdout?: string }) => err.stdout ?? String(err));
  assert.is(typed, 'ok');
});

test.run();
