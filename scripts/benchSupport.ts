/** What the benchmark scripts share. */

/** One figure: the table prints all four fields, `--json` all but the note. */
export interface Result {
  name: string;
  value: number;
  unit: string;
  note: string;
}

/** Every figure is checked, not just timed: a failed check fails the bench. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}
