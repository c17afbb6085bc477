// A vat whose start fails: createVat must refuse it and leave no trace.
export function buildRootObject() {
  throw Error('no root for you');
}
