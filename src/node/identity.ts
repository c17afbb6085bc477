import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { openStore, type Durability, type KernelStore } from '../store/index.js';

const identityKey = 'node.privateKey';

/**
 * The node's libp2p key, kept in its store so that its peer id survives
 * restarts (and is lost, with everything else, when the store is wiped).
 */
export async function loadIdentity(store: KernelStore): Promise<PrivateKey> {
  const stored = store.meta.get(identityKey);
  if (stored !== undefined) return privateKeyFromProtobuf(Buffer.from(stored, 'base64'));
  const fresh = await generateKeyPair('Ed25519');
  const encoded = store.meta.provide(identityKey, () => Buffer.from(privateKeyToProtobuf(fresh)).toString('base64'));
  return privateKeyFromProtobuf(Buffer.from(encoded, 'base64'));
}

/** Opens (creating) the store at `storePath`, gives the node its key if it has none yet, and returns its peer id. */
export async function ensureIdentity(storePath: string, durability: Durability): Promise<string> {
  const store = openStore({ path: storePath, durability });
  try {
    return peerIdFromPrivateKey(await loadIdentity(store)).toString();
  } finally {
    store.close();
  }
}
