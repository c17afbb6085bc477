import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError } from '../util/assert.js';
import { openDatabase, StoreVersionError, TransactionControl, type SqliteDatabase } from './db.js';
import { openStore } from './index.js';
import { migrations, schemaVersion } from './schema.js';

let dir: string;
let file: string;
const opened: SqliteDatabase[] = [];

/** A store file at schema version `version`, as a node of that version left it; the caller adds rows and closes it. */
function storeAtVersion(version: number): InstanceType<typeof Database> {
  const old = new Database(file);
  // v5 rekeys with the SHA-256 function that openDatabase registers.
  old.function('sha256', (text: unknown) => createHash('sha256').update(String(text)).digest());
  for (const step of migrations.slice(0, version)) old.exec(step);
  old.pragma(`user_version = ${version}`);
  return old;
}

/** Opens a connection that is closed after the test. */
function track<T extends SqliteDatabase>(db: T): T {
  opened.push(db);
  return db;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ken-db-test-'));
  file = path.join(dir, 'kernel.sqlite');
});

afterEach(() => {
  for (const db of opened.splice(0)) {
    if (db.open) db.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('openDatabase', () => {
  it('uses WAL with synchronous=NORMAL (1): in fsync durability the WAL is flushed after COMMIT (walSync.ts)', () => {
    const db = track(openDatabase(file));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
  });

  it('enforces foreign keys and never waits for a lock', () => {
    const db = track(openDatabase(file));
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(0);
  });

  it('creates the file for its owner alone (0600) under the usual umask, and SQLite gives its WAL and index the same mode', () => {
    const umask = process.umask(0o022);
    try {
      const db = track(openDatabase(file));
      db.prepare("INSERT INTO kernel_meta (key, value) VALUES ('probe', 'secret')").run();
      for (const name of [file, `${file}-wal`, `${file}-shm`]) expect(fs.statSync(name).mode & 0o777, name).toBe(0o600);
    } finally {
      process.umask(umask);
    }
  });

  it('leaves the mode of an existing file alone (start refuses one open to others; init narrows it)', () => {
    fs.writeFileSync(file, '', { mode: 0o640 });
    fs.chmodSync(file, 0o640);
    track(openDatabase(file));
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
  });

  it('migrates a new file to schemaVersion and reopens it without migrating again', () => {
    const db = openDatabase(file);
    expect(db.pragma('user_version', { simple: true })).toBe(schemaVersion);
    db.prepare("INSERT INTO kernel_meta (key, value) VALUES ('probe', 'kept')").run();
    db.close();

    // Re-running the CREATE TABLE migration would throw "table already exists".
    const again = track(openDatabase(file));
    expect(again.pragma('user_version', { simple: true })).toBe(schemaVersion);
    expect(again.prepare("SELECT value FROM kernel_meta WHERE key = 'probe'").pluck().get()).toBe('kept');
  });

  it('v4 stamps outbox rows already waiting with the time of the upgrade', () => {
    const old = storeAtVersion(3);
    old.exec("INSERT INTO peers (peer_id, endpoint) VALUES ('P', 'r1'); INSERT INTO outbox (peer_id, seq, frame) VALUES ('P', 1, '{}');");
    old.close();
    const upgradeStartedAt = Date.now();

    const db = track(openDatabase(file));
    const writtenAt = db.prepare('SELECT created_at FROM outbox').pluck().get() as number;
    // strftime('%s') has whole seconds.
    expect(writtenAt).toBeGreaterThanOrEqual(Math.floor(upgradeStartedAt / 1000) * 1000);
  });

  it('v5 rekeys issued ocap URLs by the SHA-256 of their swiss numbers: URLs issued before still resolve', () => {
    const swiss = 'ab'.repeat(16);
    const old = storeAtVersion(4);
    old.prepare('INSERT INTO ocap_urls (swiss, kref) VALUES (?, ?)').run(swiss, 'ko3');
    old.close();

    const store = openStore({ path: file, durability: 'process' });
    try {
      expect(store.peers.lookupUrl(swiss)).toEqual({ kref: 'ko3', expiresAtMs: null, revoked: null });
      expect(store.peers.lookupUrl('cd'.repeat(16))).toBeUndefined();
      expect(store.dump().ocap_urls).toEqual([{ swiss_sha256: createHash('sha256').update(swiss).digest(), kref: 'ko3', expires_at: null, revoked_reason: null }]);
    } finally {
      store.close();
    }
  });

  it('v12 moves each promise\'s subscribers into its row, in endpoint order; they are notified as before', () => {
    const old = storeAtVersion(11);
    old.exec(`
      INSERT INTO kernel_promises (kpid, state, decider, refcount) VALUES ('kp1', 'unresolved', 'v1', 2), ('kp2', 'unresolved', NULL, 0);
      INSERT INTO promise_subscribers (kpid, endpoint) VALUES ('kp1', 'v3'), ('kp1', 'r1'), ('kp1', 'v2');
    `);
    old.close();

    const store = openStore({ path: file, durability: 'process' });
    try {
      expect(store.dump().kernel_promises).toEqual([
        { kpid: 'kp1', state: 'unresolved', decider: 'v1', body: null, slots: null, refcount: 2, subscribers: '["r1","v2","v3"]' },
        { kpid: 'kp2', state: 'unresolved', decider: null, body: null, slots: null, refcount: 0, subscribers: null },
      ]);
      store.tx.beginCrank();
      expect(store.promises.takeSubscribers('kp1')).toEqual(['r1', 'v2', 'v3']);
      expect(store.promises.takeSubscribers('kp2')).toEqual([]);
      store.tx.endCrank();
    } finally {
      store.close();
    }
  });

  it('v6 keeps every vat, its state and its reason, and allows failed vats; v8 says they run on liveslots', () => {
    const old = storeAtVersion(5);
    old.exec(`
      INSERT INTO bundles (hash, bundle) VALUES ('h', '{}');
      INSERT INTO vats (vat_id, name, bundle_hash, parameters, state, next_object_id) VALUES ('v1', 'a', 'h', '{}', 'live', 7);
      INSERT INTO vats (vat_id, name, bundle_hash, parameters, state, terminated_reason) VALUES ('v2', 'b', 'h', '{}', 'terminated', 'it exited');
    `);
    old.close();

    const store = openStore({ path: file, durability: 'process' });
    try {
      expect(store.vats.all().map((vat) => ({ ...vat, parameters: undefined }))).toEqual([
        { vatId: 'v1', name: 'a', runtime: 'liveslots', bundleHash: 'h', parameters: undefined, state: 'live' },
        { vatId: 'v2', name: 'b', runtime: 'liveslots', bundleHash: 'h', parameters: undefined, state: 'terminated', reason: 'it exited' },
      ]);
      expect(store.vats.allocateImportNumber('v1', 'object')).toBe(7);
      store.tx.beginCrank();
      store.vats.markFailed('v1', 'illegal syscall');
      store.tx.endCrank();
      store.tx.commit();
      expect(store.vats.get('v1')).toMatchObject({ state: 'failed', reason: 'illegal syscall' });
    } finally {
      store.close();
    }
  });

  it('refuses a store written by a newer schema', () => {
    const raw = new Database(file);
    raw.pragma(`user_version = ${schemaVersion + 1}`);
    raw.close();

    expect(() => track(openDatabase(file))).toThrow(StoreVersionError);
    expect(() => track(openDatabase(file))).toThrow(/newer than this ken-node/);

    // The store is left as it was, not migrated down or altered.
    const check = track(new Database(file, { readonly: true }));
    expect(check.pragma('user_version', { simple: true })).toBe(schemaVersion + 1);
    expect(check.prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").pluck().get()).toBe(0);
  });

  it.skipIf(!fs.existsSync('/proc/self/fd'))('closes the connection of a store it refuses', () => {
    const raw = new Database(file);
    raw.pragma(`user_version = ${schemaVersion + 1}`);
    raw.close();
    const handlesInDir = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
        } catch {
          return false; // the fd of readdir itself, already closed
        }
      });
    expect(handlesInDir()).toEqual([]);

    expect(() => openDatabase(file)).toThrow(StoreVersionError);
    expect(handlesInDir()).toEqual([]);
  });
});

describe('TransactionControl', () => {
  let db: SqliteDatabase;
  let tx: TransactionControl;
  /** A second connection: it sees only committed data. */
  let reader: SqliteDatabase;

  beforeEach(() => {
    db = track(openDatabase(file));
    tx = new TransactionControl(db);
    reader = track(new Database(file, { readonly: true }));
  });

  // As a store writes at once: through a direct statement, which opens the transaction and the crank's savepoint first.
  const write = (key: string, value: string) =>
    tx
      .direct(
        db.prepare<[string, string]>(
          'INSERT INTO kernel_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        ),
      )
      .run(key, value);
  const readFrom = (conn: SqliteDatabase, key: string) =>
    conn.prepare('SELECT value FROM kernel_meta WHERE key = ?').pluck().get(key) as string | undefined;

  it('opens a transaction lazily and keeps released cranks uncommitted until commit', () => {
    expect(tx.uncommitted).toBe(false);
    expect(tx.inCrank).toBe(false);

    tx.beginCrank();
    expect(tx.inCrank).toBe(true);
    // Nothing written yet, nothing opened: a crank that writes only at the COMMIT costs no statement.
    expect(tx.uncommitted).toBe(false);
    write('a', '1');
    expect(tx.uncommitted).toBe(true);
    tx.endCrank();
    expect(tx.inCrank).toBe(false);

    tx.beginCrank();
    write('b', '2');
    tx.endCrank();

    expect(tx.uncommitted).toBe(true);
    expect(readFrom(db, 'a')).toBe('1');
    expect(readFrom(reader, 'a')).toBeUndefined();

    expect(tx.commit()).toBe(true);
    expect(tx.uncommitted).toBe(false);
    expect(readFrom(reader, 'a')).toBe('1');
    expect(readFrom(reader, 'b')).toBe('2');
  });

  it('abortCrank undoes only the current crank, not earlier released cranks in the same transaction', () => {
    tx.beginCrank();
    write('kept', 'first');
    tx.endCrank();

    tx.beginCrank();
    write('kept', 'overwritten');
    write('lost', 'x');
    expect(readFrom(db, 'lost')).toBe('x');
    tx.abortCrank();
    expect(tx.inCrank).toBe(false);

    expect(readFrom(db, 'kept')).toBe('first');
    expect(readFrom(db, 'lost')).toBeUndefined();

    // The next crank runs in the same open transaction and commits with the first.
    tx.beginCrank();
    write('later', 'y');
    tx.endCrank();
    expect(tx.commit()).toBe(true);
    expect(readFrom(reader, 'kept')).toBe('first');
    expect(readFrom(reader, 'lost')).toBeUndefined();
    expect(readFrom(reader, 'later')).toBe('y');
  });

  it('refuses a direct write outside any crank or transaction: no abort could undo it, and no COMMIT would come', () => {
    expect(() => write('a', '1')).toThrow(/a direct write outside a crank and outside a transaction/);
    expect(readFrom(db, 'a')).toBeUndefined();
  });

  it('commit returns false when nothing is pending', () => {
    expect(tx.commit()).toBe(false);
    tx.beginCrank();
    tx.endCrank();
    expect(tx.commit()).toBe(false);
    tx.beginCrank();
    write('a', '1');
    tx.endCrank();
    expect(tx.commit()).toBe(true);
    expect(tx.commit()).toBe(false);
  });

  it('asserts on nested or unmatched crank calls and on commit inside a crank', () => {
    expect(() => tx.endCrank()).toThrow(AssertionError);
    expect(() => tx.abortCrank()).toThrow(AssertionError);

    tx.beginCrank();
    expect(() => tx.beginCrank()).toThrow(/nested crank/);
    expect(() => tx.commit()).toThrow(/commit inside a crank/);
    // The failed calls did not disturb the open crank.
    expect(tx.inCrank).toBe(true);
    write('a', '1');
    tx.endCrank();
    expect(tx.commit()).toBe(true);
    expect(readFrom(reader, 'a')).toBe('1');
  });
});
