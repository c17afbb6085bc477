// test/vats/notesInitTwice.js with its bug fixed: baggage.init only the first time.
import { makeNotesRoot } from './notesRoot.js';

export function buildRootObject(_vatPowers, _parameters, baggage) {
  if (!baggage.has('notes')) baggage.init('notes', VatData.makeScalarBigMapStore('notes', { durable: true }));
  return makeNotesRoot(baggage.get('notes'));
}
