// The root object of the notes vats (notes.js, notesInitTwice.js): they differ only in how they find their store.
import { Far } from '@endo/far';

export function makeNotesRoot(notes) {
  return Far('notes', {
    add(count) {
      const first = [...notes.keys()].length;
      for (let index = 0; index < count; index += 1) notes.init(first + index, `note ${first + index}`);
      return first + count;
    },
    count() {
      return [...notes.keys()].length;
    },
  });
}
