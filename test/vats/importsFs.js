// A vat that asks for the filesystem by a static import: it must not load.
import { writeFileSync } from 'node:fs';
import { Far } from '@endo/far';

export function buildRootObject(_vatPowers, parameters) {
  writeFileSync(parameters.marker, 'escaped at start');
  return Far('importsFs', {});
}
