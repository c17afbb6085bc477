// A broken version 2 of bank.js: it does not define the kind "Account"
// again, so the accounts peers hold could not be used. Its upgrade fails.
import { Far } from '@endo/far';

export function buildRootObject() {
  return Far('bank', {
    version() {
      return 2;
    },
  });
}
