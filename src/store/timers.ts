import { assert } from '../util/assert.js';
import type { SqliteDatabase, TransactionControl } from './db.js';
import type { KObjectRef, KPromiseRef } from './types.js';

/**
 * A wake-up of the timer service (kernel/timerService.ts), due at `dueMs`
 * (epoch milliseconds): a `delay` settles its result promise; a `wake`
 * sends `wake(time)` to its handler, once, or every `intervalMs`.
 */
export type TimerRecord =
  | { id: number; dueMs: number; kind: 'delay'; result: KPromiseRef }
  | { id: number; dueMs: number; kind: 'wake'; handler: KObjectRef; intervalMs: number | null };

interface Row {
  id: number;
  due_ms: number;
  interval_ms: number | null;
  handler: KObjectRef | null;
  result: KPromiseRef | null;
}

function toRecord(row: Row): TimerRecord {
  if (row.result !== null) return { id: row.id, dueMs: row.due_ms, kind: 'delay', result: row.result };
  assert(row.handler !== null, `timer ${row.id} has neither a result nor a handler`);
  return { id: row.id, dueMs: row.due_ms, kind: 'wake', handler: row.handler, intervalMs: row.interval_ms };
}

/** The timer service's wake-ups; every write is part of the caller's transaction. */
export function makeTimerStore(db: SqliteDatabase, tx: TransactionControl) {
  const insert = tx.direct(db.prepare<[number, number | null, string | null, string | null]>(
    'INSERT INTO timers (due_ms, interval_ms, handler, result) VALUES (?, ?, ?, ?)',
  ));
  const due = db.prepare<[number, number], Row>('SELECT * FROM timers WHERE due_ms <= ? ORDER BY due_ms, id LIMIT ?');
  const earliest = db.prepare<[], { due_ms: number }>('SELECT due_ms FROM timers ORDER BY due_ms, id LIMIT 1');
  const count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM timers');
  const reschedule = tx.direct(db.prepare<[number, number]>('UPDATE timers SET due_ms = ? WHERE id = ?'));
  const remove = tx.direct(db.prepare<[number]>('DELETE FROM timers WHERE id = ?'));
  const removeOf = tx.direct(db.prepare<[string], { id: number }>('DELETE FROM timers WHERE handler = ? RETURNING id'));

  return {
    /** A `delay`: `result` is settled at `dueMs`. */
    addDelay(dueMs: number, result: KPromiseRef): number {
      return Number(insert.run(dueMs, null, null, result).lastInsertRowid);
    },
    /** `handler` is woken at `dueMs`, and then every `intervalMs` if that is not null. */
    addWake(dueMs: number, handler: KObjectRef, intervalMs: number | null): number {
      return Number(insert.run(dueMs, intervalMs, handler, null).lastInsertRowid);
    },
    /** Up to `max` wake-ups due at `nowMs` or before, earliest first. */
    due(nowMs: number, max: number): TimerRecord[] {
      return due.all(nowMs, max).map(toRecord);
    },
    /** When the earliest wake-up is due; undefined if there is none. */
    earliestDueMs(): number | undefined {
      return earliest.get()?.due_ms;
    },
    count(): number {
      return count.get()?.n ?? 0;
    },
    reschedule(id: number, dueMs: number): void {
      const { changes } = reschedule.run(dueMs, id);
      assert(changes === 1, `reschedule of timer ${id}, which does not exist`);
    },
    remove(id: number): void {
      const { changes } = remove.run(id);
      assert(changes === 1, `removal of timer ${id}, which does not exist`);
    },
    /** Removes every wake-up of `handler`; how many there were. */
    removeOf(handler: KObjectRef): number {
      return removeOf.all(handler).length;
    },
  };
}

export type TimerStore = ReturnType<typeof makeTimerStore>;
