/**
 * 32-bit FNV-1a of the UTF-8 bytes of `s`: the hot index's user hash (storage/redis/layout.ts,
 * computed again in its Lua scripts) and the hot counts' event id hash (fold.ts).
 */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return fnv1a32Bytes(Buffer.from(s, 'utf8'));
    h = Math.imul(h ^ c, 16777619);
  }
  return h >>> 0;
}

/** 32-bit FNV-1a of bytes. */
export function fnv1a32Bytes(b: Uint8Array, start = 0, end = b.length): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 16777619);
  return h >>> 0;
}
