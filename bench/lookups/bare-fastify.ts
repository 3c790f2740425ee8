/**
 * The ceiling: a bare Fastify app in a child process of its own, answering the check route's
 * requests with the same body schema (validated by Ajv with the API's body options: no
 * coercion, no removal) and 70 of the ids, about the size of a real answer. No auth, no rate
 * limit, no lookup. What tierstream falls short of this, it spends; what this reaches is the
 * most Node's HTTP stack gives on this machine.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { Ajv } from 'ajv';
import { userIdString } from '../../api/schemas.js';
import { MAX_CHECK_USERS } from '../../api/routes/retargeting.js';

export const BARE_PATH = '/v1/retargeting/check';

/** The body schema of POST /v1/retargeting/check (api/routes/retargeting.ts). */
const bodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['filter', 'userIds'],
  properties: {
    filter: {},
    userIds: { type: 'array', maxItems: MAX_CHECK_USERS, items: userIdString },
    from: { type: 'string', enum: ['history', 'hot'] },
  },
} as const;

export interface BareFastify {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

const thisFile = fileURLToPath(import.meta.url);

/** Starts the app in a child process (`node --import tsx`); resolves once it listens. */
export function startBareFastify(): Promise<BareFastify> {
  const child: ChildProcess = fork(thisFile, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, sig) => reject(new Error(`bare Fastify exited (${sig ?? code}) before listening`)));
    child.once('message', (m) => {
      const { port } = m as { port: number };
      child.removeAllListeners('exit');
      resolve({
        url: `http://127.0.0.1:${port}${BARE_PATH}`,
        pid: child.pid!,
        stop: () => new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
        }),
      });
    });
  });
}

async function serve(): Promise<void> {
  const app = Fastify({ bodyLimit: 1_048_576, onProtoPoisoning: 'error', onConstructorPoisoning: 'error' });
  const body = new Ajv({ removeAdditional: false, useDefaults: true, allErrors: false, strict: false, coerceTypes: false });
  app.setValidatorCompiler(({ schema }) => body.compile(schema) as (data: unknown) => boolean);
  app.post<{ Body: { userIds: string[] } }>(BARE_PATH, { schema: { body: bodySchema } }, async (req) => ({
    matched: req.body.userIds.slice(0, 70),
    servedFrom: 'hot',
  }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
  process.on('disconnect', () => process.exit(0));
  process.send!({ port: (app.server.address() as AddressInfo).port });
}

if (process.send && process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  serve().catch((err) => {
    console.error(`bare Fastify: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  });
}
