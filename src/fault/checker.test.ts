import { describe, expect, it } from 'vitest';
import { checkRun, type Entry, type NodeEnd, type PartyReport } from './checker.js';

const entries = (...seqs: number[]): Entry[] => seqs.map((seq) => [seq, `t${seq}`] as const);

/** Party a sent `sent` to b, and b consumed `received` of them. */
function run(sent: Entry[], received: Entry[], end: Partial<NodeEnd> = {}, later: Record<string, number> = {}) {
  const reports: PartyReport[] = [
    { name: 'a', sent: { b: sent }, received: {}, rejected: {}, later },
    { name: 'b', sent: {}, received: { a: received }, rejected: {}, later: {} },
  ];
  const ends: NodeEnd[] = [
    { name: 'a', outboxDepth: { b: 0 }, unsettledFromPeers: 0, ...end },
    { name: 'b', outboxDepth: { a: 0 }, unsettledFromPeers: 0 },
  ];
  return checkRun(reports, ends).map((violation) => `${violation.guarantee} ${violation.message}`);
}

describe('the exactly-once checker, on records made up to break each rule', () => {
  it('passes a run where every committed message was consumed once, in order, and everything drained', () => {
    expect(run(entries(1, 2, 3), entries(1, 2, 3))).toEqual([]);
  });

  it('reports a message consumed twice', () => {
    expect(run(entries(1, 2, 3), entries(1, 2, 2, 3))).toContainEqual(expect.stringMatching(/^G3 b consumed a's message #2 \(t2\) more than once/));
  });

  it('reports a committed message never consumed, one consumed out of order, and one never committed', () => {
    expect(run(entries(1, 2, 3), entries(1, 3))).toContainEqual(expect.stringMatching(/^G3 a committed #2 \(t2\) to b, which b never consumed/));
    expect(run(entries(1, 2, 3), entries(2, 1, 3)).some((line) => line.startsWith('G3'))).toBe(true);
    expect(run(entries(1, 2), entries(1, 2, 3)).some((line) => line.startsWith('G2'))).toBe(true);
  });

  it('reports an outbox that did not drain and results never settled', () => {
    expect(run(entries(1), entries(1), { outboxDepth: { b: 2 }, unsettledFromPeers: 1 })).toEqual([
      "G5 after the heal, a's outbox to b still holds 2 rows",
      'G5 after the heal, 1 results a awaits from peers never settled',
    ]);
  });

  it('reports a wake-up of a later send that never came, or came twice', () => {
    expect(run(entries(1), entries(1), {}, { l1: 1, l2: 0, l3: 2 })).toEqual([
      "G3 a's wake-up for l2 came 0 times, not once",
      "G3 a's wake-up for l3 came 2 times, not once",
    ]);
  });
});
