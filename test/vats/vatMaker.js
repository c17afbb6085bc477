// A vat given the vat-admin service (as a bootstrap vat is): it makes,
// upgrades and ends vats from the node's named bundles when asked.
import { E, Far } from '@endo/far';

export function buildRootObject(_vatPowers, parameters) {
  const { vatAdmin } = parameters;
  return Far('vatMaker', {
    async create(name, bundle, vatParameters) {
      const { root } = await E(vatAdmin).createVat(name, { bundle, parameters: vatParameters });
      return root;
    },
    upgrade(name, bundle) {
      return E(vatAdmin).upgradeVat(name, { bundle });
    },
    terminate(name) {
      return E(vatAdmin).terminateVat(name, 'the vat maker ended it');
    },
    vats() {
      return E(vatAdmin).vats();
    },
  });
}
