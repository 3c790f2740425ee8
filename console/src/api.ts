// The console's only way to tierstream: the public /v1 API (README, "API so far") and /readyz, with the
// operator's key as a bearer token.

import type { components, operations } from '../../client/openapi.js';

// The answers' types come from the OpenAPI document (client/openapi.ts, `npm run openapi`),
// not from a copy of them: the console sees a changed answer as a type error.
type Json<R> = R extends { content: { 'application/json': infer T } } ? T : never;

export type SourceState = components['schemas']['SourceState'];
export type Kind = SourceState['kind'];
export type Tier = SourceState['tier'];
export type FilterDoc = components['schemas']['RegisteredFilter'];

export interface ListQuery {
  kind?: string;
  tier?: string;
  status?: string;
  tag?: string;
  /** Search: part of the id or the name, any case. */
  q?: string;
  limit: number;
  cursor?: string | null;
}

export type TierCounts = Record<Tier, number>;

/** GET /v1/overview (README, "Sources listing and overview"). */
export type Overview = Json<operations['getOverview']['responses'][200]>;

/** The fields of PATCH /v1/campaigns/:id (and canvases): absent ones are left as they are. */
export type SourcePatch = { status?: 'active' | 'stopped'; name?: string | null; tags?: string[] };

export type UserInteractions = Json<operations['getUserInteractions']['responses'][200]>;
export type Erasure = Json<operations['eraseUser']['responses'][202]>;
export type ErasureState = Json<operations['getErasure']['responses'][200]>;
export type DeadLetter = Json<operations['listDeadLetters']['responses'][200]>['items'][number];
export type DeadLetterCounts = Json<operations['countDeadLetters']['responses'][200]>;
export type ReplayResult = Json<operations['replayDeadLetters']['responses'][200]>['results'][number];

/** A node of POST /v1/retargeting/explain's tree: a combinator with its members, or a leaf with what was found. */
export interface ExplainNode {
  matched: boolean;
  and?: ExplainNode[];
  or?: ExplainNode[];
  not?: ExplainNode;
  leaf?: Record<string, unknown>;
  servedFrom?: 'hot' | 'history';
  window?: { after: string | null; before: string | null };
  time?: string | null;
  count?: number;
  sources?: string[];
}

/** Whether a failure means the route itself is not there (this tierstream is older than the console). */

export type ExpiringItem = Json<operations['listExpiring']['responses'][200]>['items'][number];

/** Where a retargeting answer came from. */
export type ServedFrom = 'hot' | 'history';

/** An answer other than 2xx, or no answer at all (`status` 0). */
export class ApiFailure extends Error {
  override name = 'ApiFailure';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const KEY = 'tierstream.apiKey';

/** The operator's API key, kept in this tab's session storage (gone when the tab closes). */
export const apiKey = {
  get(): string | null {
    try {
      return sessionStorage.getItem(KEY);
    } catch {
      return null; // storage disabled: the key is simply not kept
    }
  },
  set(key: string | null): void {
    try {
      if (key) sessionStorage.setItem(KEY, key);
      else sessionStorage.removeItem(KEY);
    } catch {
      /* storage disabled */
    }
  },
};

const authListeners = new Set<(failure: ApiFailure) => void>();
/** Called on every 401, so the page can show the key field. */
export function onAuthFailure(fn: (failure: ApiFailure) => void): void {
  authListeners.add(fn);
}

/** Calls the API; resolves with the parsed body, rejects with an ApiFailure. */
export async function request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = apiKey.get();
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (err) {
    throw new ApiFailure(0, 'network', (err as Error).message);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const b = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
    const failure = new ApiFailure(res.status, typeof b.error === 'string' ? b.error : `http_${res.status}`, typeof b.message === 'string' ? b.message : res.statusText, b);
    if (res.status === 401) for (const fn of authListeners) fn(failure);
    throw failure;
  }
  return { status: res.status, body: parsed as T };
}

const plural = (k: Kind) => (k === 'campaign' ? 'campaigns' : 'canvases');

/** A filter to run: written out, or registered under an id. */
export type FilterRef = { filter: unknown } | { id: string };

const lookupPath = (f: FilterRef, op: 'count' | 'audience') =>
  'id' in f ? `/v1/filters/${encodeURIComponent(f.id)}/${op}` : `/v1/retargeting/${op}`;
const lookupBody = (f: FilterRef, from: ServedFrom, rest: object = {}) =>
  ({ ...('id' in f ? {} : { filter: f.filter }), ...(from === 'history' && { from }), ...rest });

export const api = {
  /** Campaigns and canvases in one listing (GET /v1/sources), filtered and searched by the API. */
  async sources(q: ListQuery): Promise<{ items: SourceState[]; cursor: string | null }> {
    const p = new URLSearchParams();
    for (const k of ['kind', 'tier', 'status', 'tag', 'q'] as const) if (q[k]) p.set(k, q[k]!);
    p.set('limit', String(q.limit));
    if (q.cursor) p.set('cursor', q.cursor);
    return (await request<{ items: SourceState[]; cursor: string | null }>('GET', `/v1/sources?${p}`)).body;
  },
  async overview(transitions: number): Promise<Overview> {
    return (await request<Overview>('GET', `/v1/overview?transitions=${transitions}`)).body;
  },
  async expiring(within: string, limit: number): Promise<{ items: ExpiringItem[]; cursor: string | null }> {
    return (await request<{ items: ExpiringItem[]; cursor: string | null }>('GET', `/v1/expiring?within=${within}&limit=${limit}`)).body;
  },
  async count(f: FilterRef, from: ServedFrom): Promise<{ count: number; servedFrom: ServedFrom }> {
    return (await request<{ count: number; servedFrom: ServedFrom }>('POST', lookupPath(f, 'count'), lookupBody(f, from))).body;
  },
  async audience(f: FilterRef, from: ServedFrom, limit: number): Promise<{ users: string[]; cursor: string | null; servedFrom: ServedFrom }> {
    return (await request<{ users: string[]; cursor: string | null; servedFrom: ServedFrom }>('POST', lookupPath(f, 'audience'), lookupBody(f, from, { limit }))).body;
  },
  async source(kind: Kind, id: string): Promise<SourceState> {
    return (await request<SourceState>('GET', `/v1/${plural(kind)}/${encodeURIComponent(id)}`)).body;
  },
  async restore(kind: Kind, id: string): Promise<{ id: string; tier: Tier; restorePending?: boolean }> {
    return (await request<{ id: string; tier: Tier; restorePending?: boolean }>('POST', `/v1/${plural(kind)}/${encodeURIComponent(id)}/restore`)).body;
  },
  async bulkRestore(body: { tag: string } | { ids: string[] }): Promise<{ sources: { source: string; tier: Tier | null; error?: string }[] }> {
    return (await request<{ sources: { source: string; tier: Tier | null; error?: string }[] }>('POST', '/v1/restore', body)).body;
  },
  async patchSource(kind: Kind, id: string, patch: SourcePatch): Promise<SourceState> {
    return (await request<SourceState>('PATCH', `/v1/${plural(kind)}/${encodeURIComponent(id)}`, patch)).body;
  },
  async putFilter(id: string, filter: unknown): Promise<FilterDoc> {
    return (await request<FilterDoc>('PUT', `/v1/filters/${encodeURIComponent(id)}`, { filter })).body;
  },
  async deleteFilter(id: string): Promise<void> {
    await request<unknown>('DELETE', `/v1/filters/${encodeURIComponent(id)}`);
  },
  async interactions(userId: string, sources: string[], fromHistory: boolean): Promise<UserInteractions> {
    const p = new URLSearchParams({ sources: sources.join(',') });
    if (fromHistory) p.set('from', 'history');
    return (await request<UserInteractions>('GET', `/v1/users/${encodeURIComponent(userId)}/interactions?${p}`)).body;
  },
  async erasure(id: string): Promise<ErasureState> {
    return (await request<ErasureState>('GET', `/v1/erasures/${encodeURIComponent(id)}`)).body;
  },
  async erase(userId: string): Promise<Erasure> {
    return (await request<Erasure>('DELETE', `/v1/users/${encodeURIComponent(userId)}`)).body;
  },
  /** GET /v1/users/:id/filters: the registered filters the user matches (a route another branch adds). */
  /** GET /v1/users/:id/filters: the registered filters the user matches now, and those not evaluated (a source not hot). */
  async userFilters(userId: string): Promise<{ matched: string[]; skipped: { id: string; reason: string; sources: string[] }[] }> {
    return (await request<{ matched: string[]; skipped: { id: string; reason: string; sources: string[] }[] }>('GET', `/v1/users/${encodeURIComponent(userId)}/filters`)).body;
  },
  /** POST /v1/retargeting/explain of a registered filter for one user. */
  async explain(filterId: string, userId: string, fromHistory: boolean): Promise<{ matched: boolean; inUniverse: boolean; tree: ExplainNode }> {
    return (await request<{ matched: boolean; inUniverse: boolean; tree: ExplainNode }>('POST', '/v1/retargeting/explain', { filterId, userId, ...(fromHistory && { from: 'history' }) })).body;
  },
  async deadLetterCounts(): Promise<DeadLetterCounts> {
    return (await request<DeadLetterCounts>('GET', '/v1/dead-letters/counts')).body;
  },
  async deadLetters(cursor: number | null, limit: number): Promise<{ items: DeadLetter[]; cursor: string | null }> {
    const p = new URLSearchParams({ limit: String(limit) });
    if (cursor !== null) p.set('cursor', String(cursor));
    return (await request<{ items: DeadLetter[]; cursor: string | null }>('GET', `/v1/dead-letters?${p}`)).body;
  },
  async replay(seqs: number[]): Promise<ReplayResult[]> {
    return (await request<{ results: ReplayResult[] }>('POST', '/v1/dead-letters/replay', { seqs })).body.results;
  },
  /** GET /readyz (no key needed): ready, or what is not. */
  async ready(): Promise<{ ready: boolean; message: string }> {
    try {
      const r = await request<{ status: string }>('GET', '/readyz');
      return { ready: r.body.status === 'ready', message: '' };
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 503) return { ready: false, message: err.message };
      throw err;
    }
  },
  async filters(): Promise<FilterDoc[]> {
    return (await request<{ items: FilterDoc[] }>('GET', '/v1/filters')).body.items;
  },
  async filter(id: string): Promise<FilterDoc> {
    return (await request<FilterDoc>('GET', `/v1/filters/${encodeURIComponent(id)}`)).body;
  },
};

let retention: Promise<string | null> | undefined;
/** TIER_EXPIRE_AFTER as the API reports it (GET /v1/overview), asked once per page load; null when unknown. */
export function configuredRetention(): Promise<string | null> {
  retention ??= api.overview(0).then((o) => o.retention.expireAfter, () => {
    retention = undefined; // asked again next time
    return null;
  });
  return retention;
}

/**
 * An API failure in words an operator can act on. `doing` completes "Could not …", e.g.
 * "load the sources".
 */
export function describe(err: unknown, doing: string): string {
  if (!(err instanceof ApiFailure)) return `Could not ${doing}: ${(err as Error)?.message ?? String(err)}.`;
  const detail = err.message ? ` (the API said: “${err.message}”)` : '';
  switch (err.code) {
    case 'network':
      return `Could not ${doing}: tierstream did not answer. Is it running and reachable from this browser?${detail}`;
    case 'unauthorized':
      return apiKey.get()
        ? `Could not ${doing}: the API key was refused${detail}. Check the key and enter it again above.`
        : `Could not ${doing}: this tierstream needs an API key. Enter one in the “API key” field above.`;
    case 'forbidden':
      return `Could not ${doing}: this API key lacks the permission for it${detail}. Use a key with that scope, or an admin key.`;
    case 'source_not_found':
      return `Could not ${doing}: there is no such campaign or canvas${detail}.`;
    case 'filter_not_found':
      return `Could not ${doing}: there is no such filter${detail}.`;
    case 'transition_in_progress':
      return `Could not ${doing}: another tier change is running for this source${detail}. Try again when it has finished.`;
    case 'rate_limited':
      return `Could not ${doing}: too many requests for this key right now${detail}. The console tries again at the next refresh.`;
    case 'store_unavailable':
    case 'not_ready':
      return `Could not ${doing}: a store behind tierstream (Redis, ClickHouse or NATS) did not answer${detail}. Try again in a moment.`;
    case 'hot_tier_rebuilding':
      return `Could not ${doing}: the real-time index is being rebuilt from history after Redis lost its data${detail}. Ask history, or try again when it is done.`;
    case 'invalid_request':
      return `Could not ${doing}: the API rejected the request${detail}.`;
    default:
      return err.status >= 500
        ? `Could not ${doing}: tierstream failed with ${err.status} ${err.code}${detail}. Its logs say more.`
        : `Could not ${doing}: ${err.status} ${err.code}${detail}.`;
  }
}
