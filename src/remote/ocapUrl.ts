import type { Entropy } from '../util/random.js';

/** The longest life a URL may be issued for: ten years (a longer one is a mistake more often than a wish). */
export const urlLifetimeMaxMs = 10 * 365 * 24 * 3600 * 1000;

/** An ocap URL: `ocap:<swiss>@<peerId>[,<multiaddr>…]`. */
export interface OcapUrl {
  swiss: string;
  peerId: string;
  addresses: string[];
}

export class OcapUrlError extends Error {
  override name = 'OcapUrlError';
}

/** 128 random bits, hex: unguessable, so knowing the URL is the capability. */
export const newSwiss = (entropy: Entropy): string => entropy(16);

export function formatOcapUrl(url: OcapUrl): string {
  return `ocap:${url.swiss}@${[url.peerId, ...url.addresses].join(',')}`;
}

export function parseOcapUrl(text: string): OcapUrl {
  const match = /^ocap:([0-9a-f]{32,128})@([^,@\s]+)((?:,[^,\s]+)*)$/.exec(text);
  if (match === null) {
    throw new OcapUrlError(
      `not an ocap URL: ${JSON.stringify(text)} (expected ocap:<swiss, 32+ hex digits>@<peer id>[,<multiaddr>...])`,
    );
  }
  const [, swiss, peerId, rest] = match;
  return { swiss: swiss!, peerId: peerId!, addresses: rest ? rest.slice(1).split(',') : [] };
}
