/**
 * The base of tierstream's errors: a stable `code` (snake_case; what callers, the metrics and
 * the API's one error table match on, never the message) and the standard `cause` (the error
 * this one wraps, if any), set through Error's `{ cause }` option. `name` is the class's.
 */
export class TierstreamError<C extends string = string> extends Error {
  constructor(readonly code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
