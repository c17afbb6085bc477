import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../store/index.js';
import { ensureKeyFile, loadIdentity } from './identity.js';
import { StartRefusedError } from './startErrors.js';
import { refuseForeignStore } from './storeFile.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ken-identity-'));
  made.push(dir);
  return dir;
}

async function encodedKey(): Promise<{ encoded: string; peerId: string }> {
  const key = await generateKeyPair('Ed25519');
  return { encoded: Buffer.from(privateKeyToProtobuf(key)).toString('base64'), peerId: peerIdFromPrivateKey(key).toString() };
}

describe('the node key lives in its own file', () => {
  it('moves the key of a store from before the key file out of it, keeping the peer id', async () => {
    const dir = tempDir();
    const keyFile = path.join(dir, 'node.key');
    const store = openStore({ path: path.join(dir, 'kernel.sqlite'), durability: 'process' });
    const old = await encodedKey();
    store.meta.provide('node.privateKey', () => old.encoded);

    const key = await loadIdentity(store, keyFile);
    expect(peerIdFromPrivateKey(key).toString()).toBe(old.peerId);
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(old.encoded);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(store.meta.get('node.privateKey')).toBeUndefined();
    // And from then on, from the file.
    expect(peerIdFromPrivateKey(await loadIdentity(store, keyFile)).toString()).toBe(old.peerId);
    store.close();
  });

  it('keeps the peer id when the store is replaced by an empty one', async () => {
    const dir = tempDir();
    const keyFile = path.join(dir, 'node.key');
    const peerId = await ensureKeyFile(keyFile);
    expect(await ensureKeyFile(keyFile)).toBe(peerId); // made once
    const fresh = openStore({ path: path.join(dir, 'other.sqlite'), durability: 'process' });
    expect(peerIdFromPrivateKey(await loadIdentity(fresh, keyFile)).toString()).toBe(peerId);
    fresh.close();
  });

  it('refuses a key file and a store that hold different keys, and a store another peer ran', async () => {
    const dir = tempDir();
    const keyFile = path.join(dir, 'node.key');
    const peerId = await ensureKeyFile(keyFile);
    const store = openStore({ path: path.join(dir, 'kernel.sqlite'), durability: 'process' });
    const other = await encodedKey();
    store.meta.provide('node.privateKey', () => other.encoded);
    await expect(loadIdentity(store, keyFile)).rejects.toThrow(StartRefusedError);
    expect(store.meta.get('node.privateKey')).toBe(other.encoded); // nothing dropped

    refuseForeignStore(store, other.peerId);
    expect(() => refuseForeignStore(store, peerId)).toThrow(`the store belongs to peer ${other.peerId}, but this node's key is peer ${peerId}`);
    store.close();
  });
});
