/** A vat's (or a peer's) name: 1 to 64 letters, digits, `.`, `_` or `-`, so that it is safe in a log, a path or a URL. */
export const namePattern = /^[A-Za-z0-9._-]{1,64}$/;

/** What {@link namePattern} allows, in words, for messages. */
export const nameRule = 'a name of 1 to 64 letters, digits, ".", "_" or "-"';

export function isName(value: unknown): value is string {
  return typeof value === 'string' && namePattern.test(value);
}
