// A broken version 2 of bank.js: buildRootObject throws. Its upgrade fails.
export function buildRootObject() {
  throw Error('version 2 cannot start');
}
