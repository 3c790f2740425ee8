import { sourceName, type IndexSource } from '../../core/index.js';

/**
 * The one place Redis key names are built. Every key of a source carries the hash tag
 * `{<kind>:<id>}` so that all of it lives in one Redis Cluster slot (ids cannot contain braces).
 * The layout is docs/design.md, "Hot index" (values: layout.ts):
 *
 *   <ns>:{campaign:A}:tier        string: the tier gate the write path checks (absent = hot)
 *   <ns>:{campaign:A}:m           hash: the meta: g (generation), L and p (linear hashing: level
 *                                 and split pointer), n (users), i (last index id), the index
 *                                 dictionary (<index name> -> id, #<id> -> name)
 *   <ns>:{campaign:A}:b:<g>:<n>   hash, bucket n of generation g (the meta's): user -> the
 *                                 user's records (index id + time, packed); at most a few
 *                                 hundred fields, so listpack-encoded
 *   <ns>:{campaign:A}:n:<g>:<n>   hash, the hot counts of bucket n's users: user -> marks
 *                                 (16 bytes an event: type, variant and step index ids,
 *                                 time, event id hash; docs/design.md, "Hot counts")
 *   <ns>:{campaign:A}:keys        the previous layout's key list (removed on upgrade, see
 *                                 lua/dict.lua), as were its sorted sets <ns>:{campaign:A}:i:*
 *   <ns>:{any:message}:...        the any-message pseudo-source (core ANY_MESSAGE): the same keys
 *                                 as a source, never a tier gate (always hot)
 *   <ns>:{<ns>}:sentinel3, <ns>:{<ns>}:rebuilding   see namespaceKeys (sentinel3: a namespace of
 *                                 an earlier version, sentinel2, has no any-message index yet,
 *                                 so its first process of this version rebuilds from history)
 *   <ns>:{<ns>:m<i>}:sentinel3    Redis Cluster: one per master, see namespaceKeys
 */

export function sourceTag(source: IndexSource): string {
  return `{${sourceName(source)}}`;
}

export function sourceKeys(namespace: string, source: IndexSource) {
  const base = `${namespace}:${sourceTag(source)}`;
  return {
    tier: `${base}:tier`,
    meta: `${base}:m`,
    /** Prefix of bucket keys; `bucket(generation, n)` is the full key. */
    bucketPrefix: `${base}:b:`,
    bucket: (generation: string, n: number) => `${base}:b:${generation}:${n}`,
    /** Prefix of hot-count bucket keys (`countBucket(g, n)`): the marks of bucket n's users. */
    countPrefix: `${base}:n:`,
    countBucket: (generation: string, n: number) => `${base}:n:${generation}:${n}`,
    /** The previous layout's key list (sorted sets per index), removed on upgrade. */
    legacyKeys: `${base}:keys`,
    /** Glob matching every key of the source (for tests' SCANs), with glob characters escaped. */
    pattern: `${base.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}:*`,
  };
}

/**
 * Keys of the namespace itself. `sentinel` and `rebuilding` are hash-tagged together so one
 * script can use both on a cluster. On Redis Cluster the sentinel lives on one master, so each
 * master also gets a sentinel of its own, `masterSentinel(i)` for the first `i` whose slot that
 * master owns (see checkSentinel in sentinel.ts): the loss of any master is noticed.
 */
export function namespaceKeys(namespace: string) {
  return {
    sentinel: `${namespace}:{${namespace}}:sentinel3`,
    rebuilding: `${namespace}:{${namespace}}:rebuilding`,
    /** The hash tag of master sentinel `i`, which decides its slot. */
    masterSentinelTag: (i: number) => `${namespace}:m${i}`,
    masterSentinel: (i: number) => `${namespace}:{${namespace}:m${i}}:sentinel3`,
    /** True for the sentinel and every master sentinel of the namespace. */
    isSentinel: (key: string) =>
      key === `${namespace}:{${namespace}}:sentinel3` || (key.startsWith(`${namespace}:{${namespace}:m`) && key.endsWith('}:sentinel3')),
  };
}
