/**
 * The one way values enter SQL text. ClickHouse 18.16 has no query parameters, so values are
 * quoted here and nowhere else: callers validate ids by the character sets of core/sources.ts first,
 * and this quoting makes even unvalidated text safe inside a string literal.
 */
export function sqlString(value: string): string {
  let out = "'";
  for (const ch of value) {
    switch (ch) {
      case "'": out += "\\'"; break;
      case '\\': out += '\\\\'; break;
      case '\n': out += '\\n'; break;
      case '\r': out += '\\r'; break;
      case '\t': out += '\\t'; break;
      case '\0': out += '\\0'; break;
      default: out += ch;
    }
  }
  return out + "'";
}

/** A finite integer for SQL text; throws on anything else. */
export function sqlInt(value: number): string {
  if (!Number.isSafeInteger(value)) throw new TypeError(`not a safe integer: ${value}`);
  return String(value);
}

/** Database and table identifiers: only the namespace charset `[a-z][a-z0-9_]*` is allowed. */
export function sqlIdent(name: string): string {
  if (!/^[a-z][a-z0-9_]{0,63}$/.test(name)) throw new TypeError(`invalid identifier: ${name}`);
  return name;
}
