import { assertNever } from '../util/assert.js';
import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
import type { EndpointId, GcAction, GcActionKind, KernelMessage, KObjectRef, KPromiseRef, KRef, RunQueueItem } from './types.js';

interface RunRow {
  id: number;
  kind: 'send' | 'notify';
  target: string;
  body: string | null;
  slots: string | null;
  result: KPromiseRef | null;
  endpoint: EndpointId | null;
}

function toItem(row: RunRow): RunQueueItem {
  switch (row.kind) {
    case 'send':
      return {
        id: row.id,
        type: 'send',
        target: row.target as KRef,
        message: {
          methargs: { body: row.body ?? '', slots: JSON.parse(row.slots ?? '[]') as KRef[] },
          result: row.result,
        },
      };
    case 'notify':
      return { id: row.id, type: 'notify', endpoint: row.endpoint as EndpointId, kpid: row.target as KPromiseRef };
    default:
      return assertNever(row.kind, 'run-queue kind');
  }
}

/**
 * The run queue (sends, notifications) and the GC-action queue, both FIFO.
 * The GC queue is looked at before every crank and is nearly always
 * empty: once a look finds it empty it is not read again until an action
 * is added or SQLite undoes writes (which may bring removed ones back).
 */
export function makeQueueStore(db: SqliteDatabase, tx: TransactionControl) {
  let gcMayHoldActions = true;
  tx.onUndo(() => {
    gcMayHoldActions = true;
  });
  const insertSend = db.prepare<[string, string, string, string | null]>(
    "INSERT INTO run_queue (kind, target, body, slots, result) VALUES ('send', ?, ?, ?, ?)",
  );
  const insertNotify = db.prepare<[string, string]>(
    "INSERT INTO run_queue (kind, target, endpoint) VALUES ('notify', ?, ?)",
  );
  const firstRun = db.prepare<[], RunRow>('SELECT * FROM run_queue ORDER BY id LIMIT 1');
  // Only what a notify has: no message bodies are read to find where a run of notifies ends.
  const headKinds = db.prepare<[number], Pick<RunRow, 'id' | 'kind' | 'target' | 'endpoint'>>('SELECT id, kind, target, endpoint FROM run_queue ORDER BY id LIMIT ?');
  const removeRun = db.prepare<[number]>('DELETE FROM run_queue WHERE id = ?');
  const removeRunHead = db.prepare<[number]>('DELETE FROM run_queue WHERE id <= ?');
  const countRun = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM run_queue');
  const insertGc = db.prepare<[string, string, string]>(
    'INSERT OR IGNORE INTO gc_actions (kind, endpoint, kref) VALUES (?, ?, ?)',
  );
  const firstGc = db.prepare<[], GcAction>('SELECT id, kind, endpoint, kref FROM gc_actions ORDER BY id LIMIT 1');
  const removeGc = db.prepare<[number]>('DELETE FROM gc_actions WHERE id = ?');

  return {
    enqueueSend(target: KRef, message: KernelMessage): void {
      insertSend.run(target, message.methargs.body, JSON.stringify(message.methargs.slots), message.result);
    },
    enqueueNotify(endpoint: EndpointId, kpid: KPromiseRef): void {
      insertNotify.run(kpid, endpoint);
    },
    peekRun(): RunQueueItem | undefined {
      const row = firstRun.get();
      return row && toItem(row);
    },
    /**
     * The notifies to `endpoint` at the head of the run queue, in order, up
     * to the first item that is anything else, and at most `max`. The next
     * item alone is read first: in a queue where notifies alternate with
     * other items, a run costs one row more than the item itself.
     */
    headNotifyRun(endpoint: EndpointId, max: number): Extract<RunQueueItem, { type: 'notify' }>[] {
      const run: Extract<RunQueueItem, { type: 'notify' }>[] = [];
      for (const limit of [Math.min(2, max), max]) {
        run.length = 0;
        for (const row of headKinds.all(limit)) {
          if (row.kind !== 'notify' || row.endpoint !== endpoint) return run;
          run.push({ id: row.id, type: 'notify', endpoint, kpid: row.target as KPromiseRef });
        }
        if (run.length < limit) return run;
      }
      return run;
    },
    removeRun(id: number): void {
      removeRun.run(id);
    },
    /** Removes the items at the head of the run queue, up to and including `lastId`; they must be `count` (a run of {@link headNotifyRun}). */
    removeRunHead(lastId: number, count: number): void {
      const { changes } = removeRunHead.run(lastId);
      assert(changes === count, `removed ${changes} run-queue items from the head, expected ${count}`);
    },
    runLength(): number {
      return countRun.get()?.n ?? 0;
    },
    addGcAction(kind: GcActionKind, endpoint: EndpointId, kref: KObjectRef): void {
      insertGc.run(kind, endpoint, kref);
      gcMayHoldActions = true;
    },
    peekGc(): GcAction | undefined {
      if (!gcMayHoldActions) return undefined;
      const action = firstGc.get();
      gcMayHoldActions = action !== undefined;
      return action;
    },
    removeGc(id: number): void {
      removeGc.run(id);
    },
  };
}

export type QueueStore = ReturnType<typeof makeQueueStore>;
