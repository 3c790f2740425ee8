import { sourceName, type SourceRef } from '../../core/index.js';

/**
 * The one place Redis key names are built. Every key of a source carries the hash tag
 * `{<kind>:<id>}` so that all of it lives in one Redis Cluster slot (ids cannot contain braces).
 *
 *   <ns>:{campaign:A}:tier           string: the tier gate the write path checks (absent = hot)
 *   <ns>:{campaign:A}:keys           set: names of every index key of the source
 *   <ns>:{campaign:A}:i:any          zset: user -> latest time of any event
 *   <ns>:{campaign:A}:i:e:<type>     zset: user -> latest time of <type>
 *   <ns>:{campaign:A}:i:v:<variant>:<type>
 *   <ns>:{canvas:C}:i:s:<step>:<type>
 *   <ns>:{<ns>}:sentinel, <ns>:{<ns>}:rebuilding   see namespaceKeys
 *   <ns>:{<ns>:m<i>}:sentinel        Redis Cluster: one per master, see namespaceKeys
 */

export function sourceTag(source: SourceRef): string {
  return `{${sourceName(source)}}`;
}

export function sourceKeys(namespace: string, source: SourceRef) {
  const base = `${namespace}:${sourceTag(source)}`;
  return {
    tier: `${base}:tier`,
    keys: `${base}:keys`,
    /** Prefix of index keys; `index(name)` is the full key. */
    indexPrefix: `${base}:i:`,
    index: (name: string) => `${base}:i:${name}`,
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
    sentinel: `${namespace}:{${namespace}}:sentinel`,
    rebuilding: `${namespace}:{${namespace}}:rebuilding`,
    /** The hash tag of master sentinel `i`, which decides its slot. */
    masterSentinelTag: (i: number) => `${namespace}:m${i}`,
    masterSentinel: (i: number) => `${namespace}:{${namespace}:m${i}}:sentinel`,
    /** True for the sentinel and every master sentinel of the namespace. */
    isSentinel: (key: string) =>
      key === `${namespace}:{${namespace}}:sentinel` || (key.startsWith(`${namespace}:{${namespace}:m`) && key.endsWith('}:sentinel')),
  };
}
