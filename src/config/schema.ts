import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { z } from 'zod';
import { defaultGroupCommit } from '../kernel/commitPolicy.js';
import {
  defaultInboundConnectionsPerAddressPerSecond,
  defaultInboundUpgradeTimeoutMs,
  defaultMaxConnectionsPerPeer,
  defaultMaxPendingInboundConnections,
  defaultMaxPendingInboundPerAddress,
  defaultMaxFrameBytes,
} from '../net/limits.js';
import { defaultSessionOptions } from '../remote/session.js';
import { parseOcapUrl } from '../remote/ocapUrl.js';
import { durabilities } from '../store/durability.js';
import { defaultCrankDeadlineMs } from '../vats/crankDeadline.js';
import { namePattern, nameRule } from '../kernel/vatNames.js';
import { vatRuntimes } from '../vats/runtimes.js';
import { logLevels } from '../util/logLevels.js';

/**
 * A node's configuration file (`<data-dir>/ken-node.json`): what `init`
 * writes and `start` reads. Every field but `version` has a default, so a
 * file may name only what differs. Unknown fields are refused (a typo must
 * not silently mean "the default"). Each rule's message says what is
 * allowed: the loader prints it with the field's name and the bad value.
 */

/** The format of the file; a later format gets a new number and a migration. */
const configVersion = 1;

/** Bounds: nothing is unlimited, and a value outside them is a typo more often than a wish. */
const listenAddressesMax = 16;
const commitCranksMax = 1_000_000;
const commitDelayMsMax = 60_000;
const maxFrameBytesMin = 1024;
const maxFrameBytesMax = 64 * 1024 * 1024;
const peersMax = 1024;
const allowPeersMax = 1024;

const isMultiaddr = (text: string): boolean => {
  try {
    multiaddr(text);
    return true;
  } catch {
    return false;
  }
};

const isOcapUrl = (text: string): boolean => {
  try {
    parseOcapUrl(text);
    return true;
  } catch {
    return false;
  }
};

/** A libp2p peer id in its usual form, the one connections are attributed to. */
const isPeerId = (text: string): boolean => {
  try {
    return peerIdFromString(text).toString() === text;
  } catch {
    return false;
  }
};

const wholeNumber = (min: number, max: number) => {
  const allowed = `a whole number from ${min} to ${max}`;
  return z.int({ error: allowed }).min(min, { error: allowed }).max(max, { error: allowed });
};

/** A vat's or a peer's name. */
export const nameSchema = z.string({ error: nameRule }).regex(namePattern, { error: nameRule });

const listenAddress = z
  .string({ error: 'a multiaddr string, e.g. /ip4/127.0.0.1/tcp/4001 or /ip4/0.0.0.0/tcp/4002/ws' })
  .refine(isMultiaddr, { error: 'a valid multiaddr, e.g. /ip4/127.0.0.1/tcp/4001 or /ip4/0.0.0.0/tcp/4002/ws' });

/** An ocap URL, as `ken-node url` prints it. */
export const ocapUrlSchema = z
  .string({ error: 'an ocap URL (ocap:<swiss>@<peer id>,<multiaddr>...), as `ken-node url` prints' })
  .refine(isOcapUrl, { error: 'an ocap URL (ocap:<swiss>@<peer id>,<multiaddr>...), as `ken-node url` prints' });

const allowPeersRule = `a list of 1 to ${allowPeersMax} libp2p peer ids (12D3KooW...); leave it out to let any peer connect`;
const allowPeersSchema = z
  .array(z.string({ error: allowPeersRule }).refine(isPeerId, { error: allowPeersRule }), { error: allowPeersRule })
  .min(1, { error: allowPeersRule })
  .max(allowPeersMax, { error: allowPeersRule });

const defaultListen = ['/ip4/127.0.0.1/tcp/4001'];

/** Group commit: COMMIT after `maxCranks` cranks, or once the oldest uncommitted crank is `maxDelayMs` old. */
const commitSchema = z.strictObject(
  {
    maxCranks: wholeNumber(1, commitCranksMax).default(defaultGroupCommit.maxCranks),
    maxDelayMs: wholeNumber(0, commitDelayMsMax).default(defaultGroupCommit.maxDelayMs),
  },
  { error: 'an object with maxCranks and maxDelayMs' },
);

const crankDeadlineRule = '0 (no deadline) or a whole number of milliseconds from 100 to 3600000';

/** What one peer may cost this node (docs/security.md, Limits), and one delivery (the crank deadline). */
const limitsSchema = z
  .strictObject(
    {
      maxUnackedPerPeer: wholeNumber(1, 10_000_000).default(defaultSessionOptions.maxUnackedPerPeer),
      inboundFramesPerSecond: wholeNumber(1, 10_000_000).default(defaultSessionOptions.inboundFramesPerSecond),
      inboundFrameBurst: wholeNumber(1, 10_000_000).default(defaultSessionOptions.inboundFrameBurst),
      maxConnectionsPerPeer: wholeNumber(1, 64).default(defaultMaxConnectionsPerPeer),
      // Each is a socket (a file descriptor): more than the host allows would fail every connection, not just the attacker's.
      maxPendingInboundConnections: wholeNumber(2, 10_000).default(defaultMaxPendingInboundConnections),
      maxPendingInboundPerAddress: wholeNumber(1, 1_000).default(defaultMaxPendingInboundPerAddress),
      // Under 1 s an honest handshake over a long link would fail; over 2 min a stalled socket holds its slot too long.
      inboundUpgradeTimeoutMs: wholeNumber(1_000, 120_000).default(defaultInboundUpgradeTimeoutMs),
      inboundConnectionsPerAddressPerSecond: wholeNumber(1, 10_000).default(defaultInboundConnectionsPerAddressPerSecond),
      // 0: no deadline. Under 100 ms an honest delivery on a loaded machine (a vat's start, a forced GC) would fail.
      crankDeadlineMs: z
        .int({ error: crankDeadlineRule })
        .refine((ms) => ms === 0 || (ms >= 100 && ms <= 3_600_000), { error: crankDeadlineRule })
        .default(defaultCrankDeadlineMs),
    },
    {
      error:
        'an object with maxUnackedPerPeer, inboundFramesPerSecond, inboundFrameBurst, maxConnectionsPerPeer, ' +
        'maxPendingInboundConnections, maxPendingInboundPerAddress, inboundUpgradeTimeoutMs, inboundConnectionsPerAddressPerSecond and crankDeadlineMs',
    },
  )
  // One address must not be able to take every pending slot, or it alone would lock new peers out.
  .refine((limits) => limits.maxPendingInboundPerAddress < limits.maxPendingInboundConnections, {
    path: ['maxPendingInboundPerAddress'],
    error: (issue) => {
      const { maxPendingInboundPerAddress: perAddress, maxPendingInboundConnections: all } = issue.input as Record<string, number>;
      return `fewer than limits.maxPendingInboundConnections (${all}), so that one address cannot take every pending slot (the value in force is ${perAddress})`;
    },
  });

/** The admin HTTP endpoint, always on 127.0.0.1; port 0 lets the OS pick (the node writes it to `admin.json`). */
const adminSchema = z.strictObject({ port: wholeNumber(0, 65535).default(0) }, { error: 'an object with port' });

/** What runs a vat's code (src/vats/vatInstance.ts); fixed when the vat is created. */
const runtimeSchema = z.enum(vatRuntimes, { error: `one of ${vatRuntimes.join(', ')}` }).default('liveslots');

/** Kernel services a config vat may ask for; `ocapUrls` every vat gets. */
export const vatServiceNames = ['timer', 'vatAdmin'] as const;
export type VatServiceName = (typeof vatServiceNames)[number];

const servicesRule = `a list of kernel services, each one of ${vatServiceNames.join(', ')}`;
/** The kernel services a vat is given in its parameters when it is created (besides `ocapUrls`). */
const servicesSchema = z
  .array(z.enum(vatServiceNames, { error: servicesRule }), { error: servicesRule })
  .refine((services) => new Set(services).size === services.length, { error: `${servicesRule}, none twice` });

const sourceSchema = z.string({ error: 'the path of a vat module' }).min(1, { error: 'the path of a vat module' });

/** The vat created at the first start; its root is what `ken-node url` names by default. */
const bootstrapSchema = z.strictObject(
  {
    /** The vat's JavaScript module (bundled at the first start); relative paths are relative to the data directory. */
    source: sourceSchema,
    vat: nameSchema.default('bootstrap'),
    /** Given to the vat's buildRootObject, with `ocapUrls` and the `services` added. */
    parameters: z.record(z.string(), z.json(), { error: 'a JSON object' }).default({}),
    runtime: runtimeSchema,
    services: servicesSchema.default(['vatAdmin']),
  },
  { error: 'an object with source, and optionally vat, parameters, runtime and services' },
);

/** A vat besides the bootstrap vat, created at the first start that finds it missing. */
const vatSchema = z.strictObject(
  {
    name: nameSchema,
    /** The vat's JavaScript module (bundled when the vat is created); relative paths are relative to the data directory. */
    source: sourceSchema,
    /** Given to the vat's buildRootObject, with `ocapUrls` and the `services` added. */
    parameters: z.record(z.string(), z.json(), { error: 'a JSON object' }).default({}),
    runtime: runtimeSchema,
    services: servicesSchema.default([]),
  },
  { error: 'an object with name and source, and optionally parameters, runtime and services' },
);

const bundlesMax = 64;
const bundlesRule = `an object mapping at most ${bundlesMax} bundle names to vat module paths`;

const vatsMax = 64;

export const nodeConfigSchema = z.strictObject({
  version: z.literal(configVersion, { error: `${configVersion} (the only config format so far)` }).default(configVersion),
  /** libp2p listen multiaddrs (TCP, or WebSockets with /ws); peers dial what the node's ocap URLs carry. */
  listen: z
    .array(listenAddress, { error: `a list of 1 to ${listenAddressesMax} multiaddr strings` })
    .min(1, { error: `a list of 1 to ${listenAddressesMax} multiaddr strings` })
    .max(listenAddressesMax, { error: `a list of 1 to ${listenAddressesMax} multiaddr strings` })
    .default(defaultListen),
  /** Told to peers (in ocap URLs and hellos) instead of `listen`: where a node behind a proxy or NAT is reached. Unset: the listen addresses. */
  announce: z
    .array(listenAddress, { error: `a list of 1 to ${listenAddressesMax} multiaddr strings` })
    .min(1, { error: `a list of 1 to ${listenAddressesMax} multiaddr strings` })
    .max(listenAddressesMax, { error: `a list of 1 to ${listenAddressesMax} multiaddr strings` })
    .optional(),
  durability: z.enum(durabilities, { error: `one of ${durabilities.join(', ')}` }).default('fsync'),
  commit: commitSchema.prefault({}),
  /**
   * The only peers this node connects with, either way (the id a peer proves
   * in the Noise handshake). Unset: any peer that holds one of its ocap URLs.
   */
  allowPeers: allowPeersSchema.optional(),
  limits: limitsSchema.prefault({}),
  /** A larger frame from a peer closes its connection. */
  maxFrameBytes: wholeNumber(maxFrameBytesMin, maxFrameBytesMax).default(defaultMaxFrameBytes),
  admin: adminSchema.prefault({}),
  logLevel: z.enum(logLevels, { error: `one of ${logLevels.join(', ')}` }).default('info'),
  bootstrap: bootstrapSchema.optional(),
  /** More vats, each reachable by name (`ken-node call --vat NAME`, `ken-node url --vat NAME`). */
  vats: z
    .array(vatSchema, { error: `a list of at most ${vatsMax} vats` })
    .max(vatsMax, { error: `a list of at most ${vatsMax} vats` })
    .refine((vats) => new Set(vats.map((vat) => vat.name)).size === vats.length, { error: 'each vat a different name' })
    .default([]),
  /** Vat modules the vat-admin service makes and upgrades vats from, by name (bundled at each start); relative paths are relative to the data directory. */
  bundles: z
    .record(nameSchema, sourceSchema, { error: bundlesRule })
    .refine((bundles) => Object.keys(bundles).length <= bundlesMax, { error: bundlesRule })
    .default({}),
  /** Peers to introduce to the bootstrap vat: name -> ocap URL; each is redeemed and handed to `addPeer` once. */
  peers: z
    .record(nameSchema, ocapUrlSchema, { error: 'an object mapping peer names to ocap URLs' })
    .refine((peers) => Object.keys(peers).length <= peersMax, { error: `at most ${peersMax} peers` })
    .default({}),
}).refine((config) => config.bootstrap === undefined || !config.vats.some((vat) => vat.name === config.bootstrap?.vat), {
  path: ['vats'],
  error: 'vats other than the bootstrap vat (one has its name)',
});

/** A valid configuration, every default filled in. */
export type NodeConfig = z.infer<typeof nodeConfigSchema>;

/** The fields an object in the file may have, by its place (`[]` for the top level), for messages about unknown ones. */
export function configFields(place: readonly string[]): string[] {
  const objects: Record<string, z.ZodObject> = { '': nodeConfigSchema, commit: commitSchema, admin: adminSchema, bootstrap: bootstrapSchema };
  return Object.keys(objects[place.join('.')]?.shape ?? {});
}
