import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultGroupCommit } from '../kernel/commitPolicy.js';
import { dataDirFiles, type DataDirFiles } from './dataDir.js';
import { ConfigError } from './errors.js';
import { loadConfig, resolveConfig, writeConfigFile } from './load.js';
import { configSettings, type Override } from './overrides.js';

const url = `ocap:${'0'.repeat(32)}@12D3KooWPeer,/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWPeer`;
const source = { origin: '/data/ken-node.json', baseDirectory: '/data', cwd: '/work' };

/** An override as the CLI makes it, from the setting's flag (or its variable, with `fromEnv`). */
function given(flag: string, value: string | string[], fromEnv = false): Override {
  const setting = configSettings.find((candidate) => candidate.flag === flag);
  if (setting === undefined) throw new Error(`no setting ${flag}`);
  return { setting, value, origin: fromEnv ? setting.env : setting.flag };
}

const refusal = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
};

describe('config: defaults and overrides', () => {
  it('an empty file means every default', () => {
    expect(resolveConfig({}, [], source)).toEqual({
      version: 1,
      listen: ['/ip4/127.0.0.1/tcp/4001'],
      durability: 'fsync',
      commit: defaultGroupCommit,
      limits: {
        maxUnackedPerPeer: 10_000,
        inboundFramesPerSecond: 5_000,
        inboundFrameBurst: 10_000,
        maxConnectionsPerPeer: 4,
        maxPendingInboundConnections: 256,
        maxPendingInboundPerAddress: 4,
        inboundUpgradeTimeoutMs: 5_000,
        inboundConnectionsPerAddressPerSecond: 5,
        crankDeadlineMs: 5_000,
      },
      maxFrameBytes: 1024 * 1024,
      admin: { port: 0 },
      logLevel: 'info',
      vats: [],
      bundles: {},
      peers: {},
    });
  });

  it('an override replaces the file\'s value whole, and turns text into the field\'s type', () => {
    const file = { listen: ['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2/ws'], commit: { maxCranks: 5, maxDelayMs: 7 }, peers: { a: url } };
    const config = resolveConfig(file, [
      given('--listen', '/ip4/127.0.0.1/tcp/3  /ip4/127.0.0.1/tcp/4', true),
      given('--commit-cranks', '1'),
      given('--peer', [`b=${url}`, `c=${url}`]),
    ], source);
    expect(config.listen).toEqual(['/ip4/127.0.0.1/tcp/3', '/ip4/127.0.0.1/tcp/4']);
    expect(config.commit).toEqual({ maxCranks: 1, maxDelayMs: 7 });
    expect(config.peers).toEqual({ b: url, c: url });
  });

  it('a relative bootstrap path is relative to the data directory in the file, to the working directory in a flag', () => {
    expect(resolveConfig({ bootstrap: { source: 'vats/boot.js' } }, [], source).bootstrap).toEqual({
      source: '/data/vats/boot.js',
      vat: 'bootstrap',
      parameters: {},
      runtime: 'liveslots',
      services: ['vatAdmin'],
    });
    const flagged = resolveConfig({ bootstrap: { source: 'vats/boot.js', vat: 'main' } }, [given('--bootstrap', 'other.js')], source);
    expect(flagged.bootstrap).toMatchObject({ source: '/work/other.js', vat: 'main' });
  });

  it('vats besides the bootstrap vat: sources relative to the data directory, each a name of its own', () => {
    const config = resolveConfig({ bootstrap: { source: 'boot.js' }, vats: [{ name: 'ledger', source: 'vats/ledger.js', parameters: { size: 3 } }] }, [], source);
    expect(config.vats).toEqual([{ name: 'ledger', source: '/data/vats/ledger.js', parameters: { size: 3 }, runtime: 'liveslots', services: [] }]);
    const twice = [{ name: 'a', source: 'a.js' }, { name: 'a', source: 'b.js' }];
    expect(refusal(() => resolveConfig({ vats: twice }, [], source))).toContain('expected each vat a different name');
    expect(refusal(() => resolveConfig({ bootstrap: { source: 'boot.js' }, vats: [{ name: 'bootstrap', source: 'b.js' }] }, [], source))).toContain(
      'expected vats other than the bootstrap vat (one has its name)',
    );
  });

  it('services and bundles: each service a known one, once; bundle paths relative to the data directory', () => {
    const config = resolveConfig({ vats: [{ name: 'clock', source: 'c.js', services: ['timer', 'vatAdmin'] }], bundles: { worker: 'vats/worker.js' } }, [], source);
    expect(config.vats[0]?.services).toEqual(['timer', 'vatAdmin']);
    expect(config.bundles).toEqual({ worker: '/data/vats/worker.js' });
    expect(refusal(() => resolveConfig({ vats: [{ name: 'a', source: 'a.js', services: ['clock'] }] }, [], source))).toBe(
      'bad config: vats.0.services.0 = "clock" (from /data/ken-node.json): expected a list of kernel services, each one of timer, vatAdmin',
    );
    expect(refusal(() => resolveConfig({ bootstrap: { source: 'b.js', services: ['timer', 'timer'] } }, [], source))).toBe(
      'bad config: bootstrap.services = ["timer","timer"] (from /data/ken-node.json): expected a list of kernel services, each one of timer, vatAdmin, none twice',
    );
    expect(refusal(() => resolveConfig({ bundles: { 'no good': 'x.js' } }, [], source))).toContain('bundles has a bad name "no good"');
  });

  it('the crank deadline: 0 for none, or 100 ms and up', () => {
    expect(resolveConfig({}, [given('--crank-deadline-ms', '0')], source).limits.crankDeadlineMs).toBe(0);
    expect(resolveConfig({ limits: { crankDeadlineMs: 250 } }, [], source).limits.crankDeadlineMs).toBe(250);
    expect(refusal(() => resolveConfig({}, [given('--crank-deadline-ms', '50')], source))).toBe(
      'bad config: limits.crankDeadlineMs = 50 (from --crank-deadline-ms): expected 0 (no deadline) or a whole number of milliseconds from 100 to 3600000',
    );
  });
});

describe('config: refusals name the field, the value, its origin and what is allowed', () => {
  it('from the file, a variable or a flag', () => {
    expect(refusal(() => resolveConfig({ durability: 'sometimes' }, [], source))).toBe(
      'bad config: durability = "sometimes" (from /data/ken-node.json): expected one of fsync, process',
    );
    expect(refusal(() => resolveConfig({ vats: [{ name: 'fast', source: 'fast.js', runtime: 'quick' }] }, [], source))).toMatch(
      /^bad config: vats.0.runtime = "quick" \(from \/data\/ken-node.json\): expected one of liveslots, lean/,
    );
    expect(refusal(() => resolveConfig({}, [given('--log-level', 'loud', true)], source))).toBe(
      'bad config: logLevel = "loud" (from KEN_LOG_LEVEL): expected one of debug, info, warn, error, silent',
    );
    expect(refusal(() => resolveConfig({}, [given('--max-frame-bytes', '12')], source))).toBe(
      'bad config: maxFrameBytes = 12 (from --max-frame-bytes): expected a whole number from 1024 to 67108864',
    );
    expect(refusal(() => resolveConfig({ limits: { maxUnackedPerPeer: 0 } }, [], source))).toBe(
      'bad config: limits.maxUnackedPerPeer = 0 (from /data/ken-node.json): expected a whole number from 1 to 10000000',
    );
  });

  it('a peer from a flag is blamed on the flag; a missing field is called missing', () => {
    expect(refusal(() => resolveConfig({}, [given('--peer', 'b=ocap:nope')], source))).toContain('peers.b = "ocap:nope" (from --peer)');
    expect(refusal(() => resolveConfig({}, [given('--peer', '=x')], source))).toContain('peers entry "=x" (from --peer): expected name=ocap-url');
    expect(refusal(() => resolveConfig({ bootstrap: { vat: 'x' } }, [], source))).toBe(
      'bad config: bootstrap.source is missing (from /data/ken-node.json): expected the path of a vat module',
    );
  });

  it('an unknown field lists the fields allowed where it is', () => {
    expect(refusal(() => resolveConfig({ admin: { port: 1, host: '0.0.0.0' } }, [], source))).toBe(
      'bad config: unknown field "admin.host" (from /data/ken-node.json); the fields here are port',
    );
    expect(refusal(() => resolveConfig({ version: 2 }, [], source))).toContain('version = 2');
  });
});

describe('config: allowPeers', () => {
  it('is unset unless given; a flag or variable gives the list, in usual form', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
    expect(resolveConfig({}, [], source).allowPeers).toBeUndefined();
    expect(resolveConfig({ allowPeers: [peer] }, [], source).allowPeers).toEqual([peer]);
    expect(resolveConfig({}, [given('--allow-peer', [peer, other])], source).allowPeers).toEqual([peer, other]);
    expect(resolveConfig({}, [given('--allow-peer', `${peer} ${other}`, true)], source).allowPeers).toEqual([peer, other]);
    // The same id as a CID is not the form connections are attributed to.
    const asCid = peerIdFromString(peer).toCID().toString();
    expect(refusal(() => resolveConfig({ allowPeers: [asCid] }, [], source))).toContain('allowPeers.0');
  });

  it('refuses what is not a peer id, and an empty list (which would refuse every peer)', () => {
    expect(refusal(() => resolveConfig({}, [given('--allow-peer', 'nobody', true)], source))).toBe(
      'bad config: allowPeers.0 = "nobody" (from KEN_ALLOW_PEERS): expected a list of 1 to 1024 libp2p peer ids (12D3KooW...); leave it out to let any peer connect',
    );
    expect(refusal(() => resolveConfig({ allowPeers: [] }, [], source))).toContain('allowPeers = []');
  });
});

describe('config: the file', () => {
  let files: DataDirFiles;
  beforeEach(() => {
    files = dataDirFiles(mkdtempSync(path.join(tmpdir(), 'ken-config-')));
  });
  afterEach(() => rmSync(files.directory, { recursive: true, force: true }));

  it('what is written is read back the same', () => {
    const config = resolveConfig({ durability: 'process', peers: { a: url } }, [], source);
    writeConfigFile(files.config, config);
    expect(loadConfig(files, [])).toEqual(config);
  });

  it('no file, or a file that is not a JSON object, is refused', () => {
    expect(refusal(() => loadConfig(files, []))).toContain('run `ken-node init');
    writeFileSync(files.config, '[1, 2]');
    expect(refusal(() => loadConfig(files, []))).toContain('must hold a JSON object');
  });
});
