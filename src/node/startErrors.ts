/**
 * A start refused for what the operator can see and fix: a store that is
 * not the one this data directory had, a key that does not go with its
 * store. `start` exits 1 with its message, having started nothing.
 */
export class StartRefusedError extends Error {
  override name = 'StartRefusedError';
}
