import { existsSync, readFileSync } from 'node:fs';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { KernelStore } from '../store/index.js';
import { writeFileAtomically } from '../util/atomicFile.js';
import { privateFileMode } from '../util/fileModes.js';
import { StartRefusedError } from './startErrors.js';

/** Where versions before the key file kept the key: the store's `kernel_meta`. */
const keyInStore = 'node.privateKey';

/**
 * The node's libp2p key (its peer id), from its own file beside the store,
 * so that a wiped or replaced store keeps the node's identity and its
 * peers see a new incarnation of the same peer (amnesia), not a stranger.
 * A store from before the key file is moved out: the file is written
 * durably first, then the key is deleted from the store.
 */
export async function loadIdentity(store: KernelStore, keyFile: string): Promise<PrivateKey> {
  const stored = store.meta.get(keyInStore);
  let encoded = readKeyFile(keyFile);
  if (encoded !== undefined && stored !== undefined && stored !== encoded) {
    throw new StartRefusedError(`${keyFile} and the store hold different keys: the store belongs to another node; put back the store or the key file that go together`);
  }
  if (encoded === undefined) {
    encoded = stored ?? (await newEncodedKey());
    writeFileAtomically(keyFile, `${encoded}\n`, privateFileMode);
  }
  if (stored !== undefined) {
    // The key file is durable now: the store's copy is no longer the only one.
    store.meta.removeAtOpen(keyInStore);
  }
  return decodeKey(keyFile, encoded);
}

/** Makes the key file unless it exists (so `init` can be run again after an interruption); returns the node's peer id. */
export async function ensureKeyFile(keyFile: string): Promise<string> {
  let encoded = readKeyFile(keyFile);
  if (encoded === undefined) {
    encoded = await newEncodedKey();
    writeFileAtomically(keyFile, `${encoded}\n`, privateFileMode);
  }
  return peerIdFromPrivateKey(decodeKey(keyFile, encoded)).toString();
}

/** A new Ed25519 key as the key file holds it: its protobuf encoding, base64. */
async function newEncodedKey(): Promise<string> {
  return Buffer.from(privateKeyToProtobuf(await generateKeyPair('Ed25519'))).toString('base64');
}

/** The peer id of the key in `keyFile`; refused (StartRefusedError) if there is none. */
export function peerIdOfKeyFile(keyFile: string): string {
  const encoded = readKeyFile(keyFile);
  if (encoded === undefined) throw new StartRefusedError(`${keyFile} is missing: the node's key is gone; put it back from a copy`);
  return peerIdFromPrivateKey(decodeKey(keyFile, encoded)).toString();
}

function readKeyFile(keyFile: string): string | undefined {
  if (!existsSync(keyFile)) return undefined;
  return readFileSync(keyFile, 'utf8').trim();
}

function decodeKey(keyFile: string, encoded: string): PrivateKey {
  try {
    return privateKeyFromProtobuf(Buffer.from(encoded, 'base64'));
  } catch (error) {
    throw new StartRefusedError(`${keyFile} does not hold a node key (${(error as Error).message})`);
  }
}
