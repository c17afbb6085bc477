// A vat with a one-line bug: it calls baggage.init without asking has, so
// its first start works and every restart fails ("key already registered").
// test/vats/notes.js is the same vat, corrected.
import { makeNotesRoot } from './notesRoot.js';

export function buildRootObject(_vatPowers, _parameters, baggage) {
  baggage.init('notes', VatData.makeScalarBigMapStore('notes', { durable: true }));
  return makeNotesRoot(baggage.get('notes'));
}
