#!/usr/bin/env node
// What libp2p needs of the platform (Node 20), then SES lockdown: every
// module loaded after these runs hardened. The client commands, which only
// ask a running node over its admin endpoint, load no libp2p: they skip
// the platform's additions for it (a faster start).
const clientCommands = new Set(['status', 'peers', 'url', 'vat', 'vats', 'call', 'send']);
if (!clientCommands.has(process.argv[2])) await import('../dist/src/net/platform.js');
await import('@endo/init');
// Errors record V8's default ten frames, not the whole stack @endo/init asks for (a cost paid on hot paths).
await import('../dist/src/util/errorStackDepth.js');

let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/src/cli/main.js')) {
    process.stderr.write('ken-node is not built: run `npm run build` (npm install and npm ci do it for you).\n');
    process.exit(1);
  }
  throw error;
}
await cli.main(process.argv);
