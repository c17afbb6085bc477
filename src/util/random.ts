import { randomBytes } from 'node:crypto';

/** Where unguessable values (swiss numbers, incarnations) come from: `bytes` random bytes, hex. */
export type Entropy = (bytes: number) => string;

export const systemEntropy: Entropy = (bytes) => randomBytes(bytes).toString('hex');

/** Entropy from a seeded PRNG, for simulations that must replay byte for byte. Guessable: never for a real node. */
export function seededEntropy(random: () => number): Entropy {
  return (bytes) => Array.from({ length: bytes }, () => Math.floor(random() * 256).toString(16).padStart(2, '0')).join('');
}

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed from KEN_SEED (to replay a run) or a fresh one; printed either way by the caller. */
export function testSeed(): number {
  const fromEnvironment = process.env.KEN_SEED;
  if (fromEnvironment !== undefined) {
    const seed = Number(fromEnvironment);
    if (!Number.isSafeInteger(seed)) throw new Error(`KEN_SEED must be an integer, got ${JSON.stringify(fromEnvironment)}`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}
