// The listening side of the raw libp2p baselines, in a process of its own
// set up like a node's (platform, then SES lockdown). Prints its addresses
// as one JSON line; stops when its stdin ends (the bench closed it or died).
import '../src/net/platform.js';
import '@endo/init';
import '../src/util/errorStackDepth.js';
import { serveRaw, startRawNode } from './rawLibp2p.js';

const node = await startRawNode(process.argv.slice(2));
await serveRaw(node);
process.stdout.write(`${JSON.stringify(node.getMultiaddrs().map(String))}\n`);
process.stdin.on('end', () => {
  void Promise.resolve(node.stop()).finally(() => process.exit(0));
});
process.stdin.resume();
