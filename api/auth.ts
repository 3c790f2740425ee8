import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TierstreamError } from '../core/index.js';
import { ApiError } from './errors.js';

export const SCOPES = ['lookup', 'restore', 'ingest', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  /** Short, non-secret label for logs and rate-limit buckets: the first 8 hex of the key's SHA-256. */
  id: string;
  digest: Buffer;
  scopes: Set<Scope>;
}

/** A bad TIERSTREAM_API_KEYS: `invalid_api_keys`. */
export class ApiKeyError extends TierstreamError<'invalid_api_keys'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_api_keys', message, options);
  }
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Parses TIERSTREAM_API_KEYS: `key:scope,scope;key2:scope`. Keys are at least 16 characters of
 * `[A-Za-z0-9._~+/=-]`; scopes are lookup, restore, ingest, admin (admin implies the others).
 * Only digests are kept in memory.
 */
export function parseApiKeys(spec: string): ApiKey[] {
  const keys: ApiKey[] = [];
  for (const entry of spec.split(';').map((s) => s.trim()).filter(Boolean)) {
    const colon = entry.lastIndexOf(':');
    const key = colon < 0 ? entry : entry.slice(0, colon);
    const scopes = colon < 0 ? [] : entry.slice(colon + 1).split(',').map((s) => s.trim()).filter(Boolean);
    if (!/^[A-Za-z0-9._~+/=-]{16,256}$/.test(key)) throw new ApiKeyError('TIERSTREAM_API_KEYS: each key needs 16 to 256 characters of [A-Za-z0-9._~+/=-]');
    if (scopes.length === 0) throw new ApiKeyError('TIERSTREAM_API_KEYS: each key needs at least one scope (lookup, restore, ingest, admin)');
    for (const s of scopes) if (!(SCOPES as readonly string[]).includes(s)) throw new ApiKeyError(`TIERSTREAM_API_KEYS: unknown scope "${s}"`);
    const digest = sha256(key);
    keys.push({ id: digest.subarray(0, 4).toString('hex'), digest, scopes: new Set(scopes as Scope[]) });
  }
  if (keys.length === 0) throw new ApiKeyError('TIERSTREAM_API_KEYS: no keys');
  return keys;
}

/** Finds the key in constant time: every configured key is compared, digests of equal length. */
export function findKey(keys: readonly ApiKey[], presented: string): ApiKey | undefined {
  const d = sha256(presented);
  let found: ApiKey | undefined;
  for (const k of keys) if (timingSafeEqual(k.digest, d) && !found) found = k;
  return found;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's key, when it is known and has the route's scope. */
    apiKey?: ApiKey;
    /** Why the request is refused (401 or 403), answered after the rate limiter counted it. */
    authRefusal?: ApiError;
  }
  interface FastifyContextConfig {
    /**
     * Scope a key needs for the route. Every `/v1` route declares one (buildApp refuses to
     * start otherwise); routes outside `/v1` (health, metrics, docs, console) declare none and
     * are public.
     */
    scope?: Scope;
  }
}

/** Throws at start-up when a `/v1` route forgets its scope, or a public route claims one. */
export function checkRouteScope(route: { method: string | string[]; url: string; config?: { scope?: unknown } }): void {
  const scope = route.config?.scope;
  const guarded = route.url === '/v1' || route.url.startsWith('/v1/');
  const name = `${[route.method].flat().join(',')} ${route.url}`;
  if (guarded && !(SCOPES as readonly unknown[]).includes(scope)) {
    throw new Error(`route ${name} declares no scope (config.scope: ${SCOPES.join(' | ')})`);
  }
  if (!guarded && scope !== undefined) throw new Error(`route ${name} is outside /v1 and public, but declares scope "${String(scope)}"`);
}

/**
 * Bearer authentication for every route that declares a scope (every `/v1` route): 401
 * `unauthorized` without a known key, 403 `forbidden` when the key lacks the route's scope.
 * The decision is taken on the route the router matched, never on the raw URL: the router
 * decodes `%76` to `v` and strips the scheme and host of an absolute-form request line, so a
 * test of `req.url` can be walked around. Without keys, auth is off (the process entry point
 * then refuses non-loopback addresses).
 */
export function registerAuth(app: FastifyInstance, keys: readonly ApiKey[] | undefined): void {
  if (!keys) return;
  // Decided first, refused later: the rate limiter (an onRequest hook registered after this
  // one) runs in between, so 401 and 403 answers count against the client address's limit;
  // refused at once, they were never limited. preParsing still comes before the body is read.
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const scope = req.routeOptions.config.scope;
    if (scope === undefined) return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const key = m ? findKey(keys, m[1]!) : undefined;
    if (!key) req.authRefusal = new ApiError('unauthorized', m ? 'unknown API key' : 'Authorization: Bearer <key> required');
    else if (!key.scopes.has('admin') && !key.scopes.has(scope)) req.authRefusal = new ApiError('forbidden', `this key lacks the "${scope}" scope`);
    else req.apiKey = key;
  });
  app.addHook('preParsing', async (req: FastifyRequest) => {
    if (req.authRefusal) throw req.authRefusal;
  });
}
