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

/** Run-queue items read from SQLite at a time, and held in memory at most (a burst's items stay in memory up to this many once written). */
const runReadBatch = 64;
const maxHeldRunItems = 20_000;

/**
 * The run queue (sends, notifications) and the GC-action queue, both FIFO.
 *
 * The run queue writes at the COMMIT: items enqueued since the last COMMIT
 * wait in memory (`added`) with the ids they will have, and an item taken
 * from SQLite (`stored`, read a batch at a time) is deleted at the COMMIT.
 * Items are taken from the head only, and every item in SQLite is older
 * than every item added since, so the head is the first of `stored`, else
 * the first of `added`. An item added and taken within one group of cranks
 * (most local sends and notifies) never reaches SQLite. A crank's changes
 * are undone by restoring where each list stood when it began.
 *
 * The GC queue is looked at before every crank and is nearly always empty:
 * once a look finds it empty it is not read again until an action is added
 * or SQLite undoes writes (which may bring removed ones back).
 */
export function makeQueueStore(db: SqliteDatabase, tx: TransactionControl) {
  let gcMayHoldActions = true;
  tx.onUndo(() => {
    gcMayHoldActions = true;
  });
  const insertRun = db.prepare<[number, string, string, string | null, string | null, string | null, string | null]>(
    'INSERT INTO run_queue (id, kind, target, body, slots, result, endpoint) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const readRun = db.prepare<[number, number], RunRow>('SELECT * FROM run_queue WHERE id > ? ORDER BY id LIMIT ?');
  const removeRunThrough = db.prepare<[number]>('DELETE FROM run_queue WHERE id <= ?');
  const countRunAfter = db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM run_queue WHERE id > ?');
  // AUTOINCREMENT keeps the highest id ever inserted; ids go on from there.
  const lastRunId = db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'run_queue'");
  const insertGc = tx.direct(db.prepare<[string, string, string]>(
    'INSERT OR IGNORE INTO gc_actions (kind, endpoint, kref) VALUES (?, ?, ?)',
  ));
  const firstGc = db.prepare<[], GcAction>('SELECT id, kind, endpoint, kref FROM gc_actions ORDER BY id LIMIT 1');
  const removeGc = tx.direct(db.prepare<[number]>('DELETE FROM gc_actions WHERE id = ?'));

  /** Items read from SQLite, in order; those from `storedIndex` on are still queued. */
  let stored: RunQueueItem[] = [];
  let storedIndex = 0;
  /** The highest id read from SQLite, and whether SQLite may hold items after it. */
  let lastReadId = 0;
  let storedMayHaveMore = true;
  /** The highest id of an item taken from SQLite since the COMMIT (0: none): the COMMIT deletes it and every item before it. */
  let takenThrough = 0;
  /** Items enqueued since the COMMIT, in order; those from `addedIndex` on are still queued. */
  let added: RunQueueItem[] = [];
  let addedIndex = 0;
  let nextId = (lastRunId.get()?.seq ?? 0) + 1;
  /** Where the lists stood when the open crank began. */
  let atCrankStart: { storedIndex: number; addedIndex: number; added: number; takenThrough: number; nextId: number } | undefined;

  /** The item `offset` places from the head (0: the head), reading from SQLite as needed; undefined past the end. */
  function itemAt(offset: number): RunQueueItem | undefined {
    while (storedIndex + offset >= stored.length && storedMayHaveMore) {
      const rows = readRun.all(lastReadId, runReadBatch);
      storedMayHaveMore = rows.length === runReadBatch;
      for (const row of rows) stored.push(toItem(row));
      lastReadId = rows.at(-1)?.id ?? lastReadId;
    }
    const fromStored = stored.length - storedIndex;
    return offset < fromStored ? stored[storedIndex + offset] : added[addedIndex + offset - fromStored];
  }

  /** Takes the head, which must be the item `id`. */
  function takeHead(id: number): void {
    const head = itemAt(0);
    assert(head !== undefined && head.id === id, `run-queue item ${id} taken, but the head is ${head?.id}`);
    if (storedIndex < stored.length) {
      storedIndex += 1;
      takenThrough = id;
    } else {
      addedIndex += 1;
    }
  }

  function enqueue(item: RunQueueItem): void {
    added.push(item);
    nextId += 1;
  }

  tx.addWritesAtCommit({
    get changed() {
      return takenThrough !== 0 || addedIndex < added.length;
    },
    beginCrank() {
      atCrankStart = { storedIndex, addedIndex, added: added.length, takenThrough, nextId };
    },
    endCrank() {
      atCrankStart = undefined;
    },
    abortCrank() {
      assert(atCrankStart !== undefined, 'run queue: abort without a crank');
      ({ storedIndex, addedIndex, takenThrough, nextId } = atCrankStart);
      added.length = atCrankStart.added;
      atCrankStart = undefined;
    },
    write() {
      if (takenThrough !== 0) removeRunThrough.run(takenThrough);
      for (let index = addedIndex; index < added.length; index += 1) {
        const item = added[index] as RunQueueItem;
        if (item.type === 'send') {
          const { methargs, result } = item.message;
          insertRun.run(item.id, 'send', item.target, methargs.body, JSON.stringify(methargs.slots), result, null);
        } else {
          insertRun.run(item.id, 'notify', item.kpid, null, null, null, item.endpoint);
        }
      }
    },
    written() {
      // Taken items leave the front of `stored` now and then, not at every COMMIT: a long queue is not copied each time.
      if (storedIndex > 1024 && storedIndex * 2 > stored.length) {
        stored = stored.slice(storedIndex);
        storedIndex = 0;
      }
      // Held in memory (as many as there is room for), they need not be read back, unless SQLite holds items before them that are not.
      const room = storedMayHaveMore ? 0 : Math.max(0, maxHeldRunItems - (stored.length - storedIndex));
      const kept = Math.min(added.length - addedIndex, room);
      for (let index = addedIndex; index < addedIndex + kept; index += 1) stored.push(added[index] as RunQueueItem);
      lastReadId = stored.at(-1)?.id ?? lastReadId;
      storedMayHaveMore ||= kept < added.length - addedIndex;
      takenThrough = 0;
      added = [];
      addedIndex = 0;
    },
    discard() {
      // The kernel stops after a rollback: what is held is read again from SQLite, should anything ask.
      stored = [];
      storedIndex = 0;
      lastReadId = 0;
      storedMayHaveMore = true;
      takenThrough = 0;
      added = [];
      addedIndex = 0;
      atCrankStart = undefined;
      nextId = (lastRunId.get()?.seq ?? 0) + 1;
    },
  });

  return {
    enqueueSend(target: KRef, message: KernelMessage): void {
      enqueue({ id: nextId, type: 'send', target, message });
    },
    enqueueNotify(endpoint: EndpointId, kpid: KPromiseRef): void {
      enqueue({ id: nextId, type: 'notify', endpoint, kpid });
    },
    peekRun(): RunQueueItem | undefined {
      return itemAt(0);
    },
    /** The notifies to `endpoint` at the head of the run queue, in order, up to the first item that is anything else, and at most `max`. */
    headNotifyRun(endpoint: EndpointId, max: number): Extract<RunQueueItem, { type: 'notify' }>[] {
      const run: Extract<RunQueueItem, { type: 'notify' }>[] = [];
      for (let offset = 0; offset < max; offset += 1) {
        const item = itemAt(offset);
        if (item?.type !== 'notify' || item.endpoint !== endpoint) break;
        run.push(item);
      }
      return run;
    },
    /** Takes the head of the run queue, which must be the item `id`. */
    removeRun(id: number): void {
      takeHead(id);
    },
    /** Takes the `count` items at the head of the run queue, the last of which must be `lastId` (a run of {@link headNotifyRun}). */
    removeRunHead(lastId: number, count: number): void {
      let last: number | undefined;
      for (let taken = 0; taken < count; taken += 1) {
        last = itemAt(0)?.id;
        assert(last !== undefined, `removed ${taken} run-queue items from the head, expected ${count}`);
        takeHead(last);
      }
      assert(last === lastId, `removed run-queue items through ${last}, expected through ${lastId}`);
    },
    runLength(): number {
      const inSqliteOnly = storedMayHaveMore ? (countRunAfter.get(lastReadId)?.n ?? 0) : 0;
      return stored.length - storedIndex + inSqliteOnly + added.length - addedIndex;
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
