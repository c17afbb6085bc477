import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openStore, type KernelStore, type KPromiseRef, type RemoteId } from './index.js';

const endpoints: RemoteId[] = ['r1', 'r2'];

type Op =
  | { kind: 'add'; endpoint: number; seqStep: number }
  | { kind: 'takeThrough'; endpoint: number; back: number }
  | { kind: 'takeAll'; endpoint: number }
  | { kind: 'end' | 'abort' | 'commit' | 'rollback' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('add' as const), endpoint: fc.nat(1), seqStep: fc.nat(2) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('takeThrough' as const), endpoint: fc.nat(1), back: fc.nat(3) }), weight: 2 },
  fc.record({ kind: fc.constant('takeAll' as const), endpoint: fc.nat(1) }),
  fc.record({ kind: fc.constantFrom('end' as const, 'abort' as const, 'commit' as const, 'commit' as const, 'rollback' as const) }),
);

/** Every ref ever retired, by endpoint: what the store says each names now, and how many retire. */
function view(store: KernelStore, erefs: string[]) {
  return endpoints.map((endpoint) => ({
    names: namesOf(erefs, (eref) => store.retiringRefs.byEref(endpoint, eref)),
    count: store.retiringRefs.count(endpoint),
  }));
}

/** The refs that name something, with what they name. */
function namesOf(erefs: string[], name: (eref: string) => string | undefined): Record<string, string> {
  return Object.fromEntries(erefs.flatMap((eref) => {
    const kref = name(eref);
    return kref === undefined ? [] : [[eref, kref]];
  }));
}

/** The same, from SQLite's rows as the COMMIT would leave them (store.dump writes what waits, reads, and undoes). */
function sqlView(store: KernelStore, erefs: string[]) {
  const rows = (store.dump().clist_retiring ?? []) as { endpoint: string; eref: string; kref: string }[];
  return endpoints.map((endpoint) => ({
    names: namesOf(erefs, (eref) => rows.find((row) => row.endpoint === endpoint && row.eref === eref)?.kref),
    count: rows.filter((row) => row.endpoint === endpoint).length,
  }));
}

describe('retiring refs', () => {
  it('answer as rows written at once would: aborts undo the crank, COMMITs write it all, rollbacks undo the group', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const store = openStore({ path: ':memory:', durability: 'process' });
        const erefs: string[] = [];
        // Per endpoint, the seq of the last notify: retired refs come in seq order, and a pair that starts over (takeAll) counts from 1 again.
        const lastSeq = [0, 0];
        let atCommit = view(store, erefs);
        let atCommitSeqs = [...lastSeq];
        let atCrankStart = atCommit;
        let atCrankStartSeqs = [...lastSeq];
        try {
          for (const step of ops) {
            if (!store.tx.inCrank && step.kind !== 'commit' && step.kind !== 'rollback') {
              store.tx.beginCrank();
              atCrankStart = view(store, erefs);
              atCrankStartSeqs = [...lastSeq];
            }
            switch (step.kind) {
              case 'add': {
                const endpoint = endpoints[step.endpoint] as RemoteId;
                const seq = (lastSeq[step.endpoint] as number) + step.seqStep;
                lastSeq[step.endpoint] = seq;
                const eref = `p-${erefs.length + 1}`;
                erefs.push(eref);
                store.retiringRefs.add(endpoint, eref, `kp${erefs.length}` as KPromiseRef, seq);
                expect(store.retiringRefs.byEref(endpoint, eref)).toBe(`kp${erefs.length}`);
                break;
              }
              case 'takeThrough': {
                const endpoint = endpoints[step.endpoint] as RemoteId;
                const through = Math.max(0, (lastSeq[step.endpoint] as number) - step.back);
                const before = view(store, erefs)[step.endpoint];
                const taken = store.retiringRefs.takeThrough(endpoint, through);
                const after = view(store, erefs)[step.endpoint];
                // What went is what named the promises returned, in seq order, and nothing else did.
                const went = erefs.flatMap((eref) => (before?.names[eref] !== undefined && after?.names[eref] === undefined ? [before.names[eref]] : []));
                expect(taken).toEqual(went);
                expect(after?.count).toBe((before?.count ?? 0) - taken.length);
                break;
              }
              case 'takeAll': {
                store.retiringRefs.takeAll(endpoints[step.endpoint] as RemoteId);
                expect(store.retiringRefs.count(endpoints[step.endpoint] as RemoteId)).toBe(0);
                lastSeq[step.endpoint] = 0;
                break;
              }
              case 'end':
                store.tx.endCrank();
                break;
              case 'abort':
                store.tx.abortCrank();
                expect(view(store, erefs)).toEqual(atCrankStart);
                lastSeq.splice(0, 2, ...atCrankStartSeqs);
                break;
              case 'commit':
                if (store.tx.inCrank) store.tx.endCrank();
                store.tx.commit();
                atCommit = view(store, erefs);
                atCommitSeqs = [...lastSeq];
                break;
              case 'rollback':
                store.tx.rollback();
                expect(view(store, erefs)).toEqual(atCommit);
                lastSeq.splice(0, 2, ...atCommitSeqs);
                break;
              default:
                throw new Error(`unknown op ${JSON.stringify(step satisfies never)}`);
            }
            // At every step, what the COMMIT would write is what the store answers.
            expect(sqlView(store, erefs)).toEqual(view(store, erefs));
          }
        } finally {
          store.close();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('write a ref retired and dropped within one group not at all', () => {
    const statements: string[] = [];
    const store = openStore({ path: ':memory:', durability: 'process', onStatement: (sql) => statements.push(sql) });
    try {
      store.tx.beginCrank();
      store.retiringRefs.add('r1', 'p-1', 'kp1', 1);
      store.retiringRefs.add('r1', 'p-2', 'kp2', 2);
      store.tx.endCrank();
      store.tx.beginCrank();
      expect(store.retiringRefs.takeThrough('r1', 1)).toEqual(['kp1']);
      store.tx.endCrank();
      statements.length = 0;
      store.tx.commit();
      expect(statements.filter((sql) => sql.includes('clist_retiring'))).toEqual([expect.stringMatching(/^INSERT INTO clist_retiring/)]);
      expect(store.dump().clist_retiring).toEqual([{ endpoint: 'r1', eref: 'p-2', kref: 'kp2', seq: 2 }]);
    } finally {
      store.close();
    }
  });
});
