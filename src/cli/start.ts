import { Command } from 'commander';
import { NodeMetrics } from '../admin/metrics.js';
import { removeAdminEndpoint, writeAdminEndpoint } from '../admin/endpointFile.js';
import { AdminServer } from '../admin/server.js';
import { readAdminToken } from '../admin/token.js';
import { dataDirFiles, type DataDirFiles } from '../config/dataDir.js';
import { refuseExposedDataDir } from '../config/dataDirModes.js';
import { ConfigError } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import type { NodeConfig } from '../config/schema.js';
import { ensureVat, introducePeers } from '../node/bootstrapVat.js';
import { KenNode } from '../node/node.js';
import { checkStorePresence, newIncarnationFlag } from '../node/storeFile.js';
import { parseOcapUrl } from '../remote/ocapUrl.js';
import { lockDataDir } from '../store/processLock.js';
import { makeLogger, type Logger } from '../util/logger.js';
import { CrashPoints, parseCrashArming } from '../fault/crashPoints.js';
import { BundleError, bundleSourceFile, type VatBundle } from '../vats/bundles.js';
import { addConfigOptions, dataDirOption, overridesOf } from './configOptions.js';
import { exitCodesHelp, withUserErrors } from './exitCodes.js';
import { exitOnKernelStop, shutdownFlushMs, stopOnSignal } from './lifecycle.js';

/** `ken-node start`: runs a node from its data directory until a signal stops it. */
export function startCommand(): Command {
  const command = new Command('start')
    .description(
      'run the node of a data directory (made by `ken-node init`) from its ken-node.json, with flags and KEN_* variables ' +
        'overriding the file: listen with libp2p, create the bootstrap vat at the first start, introduce configured peers ' +
        'to it, and serve the admin endpoint on 127.0.0.1. SIGTERM or SIGINT stops it cleanly (exit 0); a second one at once.',
    )
    .addOption(dataDirOption())
    .option(
      newIncarnationFlag,
      'start with an empty store under the node\'s key, as a new incarnation: for a data directory whose store was lost ' +
        '(missing or emptied), which start otherwise refuses. Its peers learn that it forgot everything, reject what they ' +
        'were owed by it and drop what they owed it (docs/protocol.md, amnesia)',
    )
    .addHelpText('after', exitCodesHelp.start);
  return addConfigOptions(command, 'overrides').action(async (_options: unknown, self: Command) => {
    process.exitCode = await withUserErrors(() => runStart(self));
  });
}

async function runStart(command: Command): Promise<number> {
  const { dataDir, newIncarnation } = command.opts<{ dataDir: string; newIncarnation?: boolean }>();
  const files = dataDirFiles(dataDir);
  const config = loadConfig(files, overridesOf(command));
  // Before the node runs with secrets others could read (its key, the token), not after.
  refuseExposedDataDir(files);
  const token = tokenOf(files);
  const lock = lockDataDir(files);
  checkStorePresence(files, newIncarnation === true);
  const logger = makeLogger({ level: config.logLevel, name: 'ken-node' });
  const crashPoints = crashPointsOfEnvironment();
  const bundles = await bundleAll(config.bundles);
  const metrics = new NodeMetrics();
  const node = await KenNode.start({
    storePath: files.store,
    durability: config.durability,
    logger,
    transport: {
      kind: 'libp2p',
      listen: config.listen,
      announce: config.announce,
      keyFile: files.key,
      maxFrameBytes: config.maxFrameBytes,
      allowPeers: config.allowPeers,
      maxConnectionsPerPeer: config.limits.maxConnectionsPerPeer,
      maxPendingInboundConnections: config.limits.maxPendingInboundConnections,
      maxPendingInboundPerAddress: config.limits.maxPendingInboundPerAddress,
      inboundUpgradeTimeoutMs: config.limits.inboundUpgradeTimeoutMs,
      inboundConnectionsPerAddressPerSecond: config.limits.inboundConnectionsPerAddressPerSecond,
    },
    commit: config.commit,
    session: { maxUnackedPerPeer: config.limits.maxUnackedPerPeer, inboundFramesPerSecond: config.limits.inboundFramesPerSecond, inboundFrameBurst: config.limits.inboundFrameBurst },
    observer: { ...metrics.kernelObserver, stopped: exitOnKernelStop(logger) },
    crankDeadlineMs: config.limits.crankDeadlineMs,
    deliveryMarkFile: files.deliveryMark,
    bundles,
    crashPoints,
  });
  let admin: AdminServer;
  try {
    admin = await serve(node, config, files, token, metrics, logger);
  } catch (error) {
    // A running libp2p node would keep the process alive.
    await node.stop().catch(() => {});
    throw error;
  }
  return stopOnSignal(async () => {
    removeAdminEndpoint(files.adminEndpoint);
    await admin.close();
    await node.shutdown(shutdownFlushMs);
    lock.release();
  }, logger);
}

/** Brings the started node into service: its bootstrap vat and other vats, the work left from the last run, the admin endpoint, its peers. */
async function serve(node: KenNode, config: NodeConfig, files: DataDirFiles, token: string, metrics: NodeMetrics, logger: Logger): Promise<AdminServer> {
  const started = new Date();
  const root = config.bootstrap === undefined ? undefined : await ensureVat(node, config.bootstrap, logger);
  for (const vat of config.vats) await ensureVat(node, { ...vat, vat: vat.name }, logger);
  // Work committed before the last stop (or crash) and not yet done.
  await node.kernel.run();
  metrics.watch(node);
  const peerNames = new Map(Object.entries(config.peers).map(([name, url]) => [name, parseOcapUrl(url).peerId]));
  const admin = await AdminServer.start({ node, metrics, started, bootstrapVat: config.bootstrap?.vat, peerNames, token, port: config.admin.port, logger });
  writeAdminEndpoint(files.adminEndpoint, { url: admin.url, pid: process.pid });
  logger.info({ peerId: node.peerId, addresses: node.transport.addresses(), admin: admin.url, dataDir: files.directory }, 'node started');
  const peers = Object.keys(config.peers);
  if (root !== undefined) void introducePeers(node, root, config.peers, logger);
  else if (peers.length > 0) logger.warn({ peers }, 'peers are configured but there is no bootstrap vat to introduce them to');
  return admin;
}

/** The config's `bundles`, bundled (from the cache when unchanged), for the vat-admin service; one that does not bundle is a bad config. */
async function bundleAll(sources: Record<string, string>): Promise<Map<string, VatBundle>> {
  const bundles = new Map<string, VatBundle>();
  for (const [name, source] of Object.entries(sources)) {
    try {
      bundles.set(name, await bundleSourceFile(source));
    } catch (error) {
      if (error instanceof BundleError) throw new ConfigError(`bad config: bundles.${name}: ${error.message}`);
      throw error;
    }
  }
  return bundles;
}

/**
 * Test-only: `KEN_CRASH_AT=point:n` kills the process (SIGKILL) the n-th
 * time it passes the named crash point (docs/testing.md), so that a test
 * can kill a real node at a chosen step. Unset in production.
 */
function crashPointsOfEnvironment(): CrashPoints | undefined {
  const arming = process.env.KEN_CRASH_AT;
  if (arming === undefined) return undefined;
  try {
    return new CrashPoints(parseCrashArming(arming));
  } catch (error) {
    throw new ConfigError(`bad KEN_CRASH_AT: ${(error as Error).message}`);
  }
}

function tokenOf(files: DataDirFiles): string {
  try {
    return readAdminToken(files.adminToken);
  } catch (error) {
    throw new ConfigError(`cannot read the admin token (${(error as Error).message}): run \`ken-node init --data-dir ${files.directory}\``);
  }
}
