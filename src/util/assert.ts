/**
 * Assertions are for bugs: a failed one means the kernel's own invariants are
 * broken, so the caller must not catch it and carry on. The node stops without
 * committing, and the store (the truth) is left at its last commit.
 */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

/** Throws an {@link AssertionError} unless `condition` holds; narrows types. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) {
    throw new AssertionError(message);
  }
}

/** For the `default` branch of an exhaustive switch over a union. */
export function assertNever(value: never, what: string): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
