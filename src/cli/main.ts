import { Command, CommanderError } from 'commander';

/**
 * Every command of `ken-node`, each loaded when it is asked for: a client
 * command (`status`, `call`, `vat list`...) then loads what it uses (the
 * admin client, the config schema), not the kernel, the vats or libp2p,
 * and starts in a fraction of the time.
 */
const commandLoaders: Record<string, () => Promise<Command>> = {
  init: async () => (await import('./init.js')).initCommand(),
  start: async () => (await import('./start.js')).startCommand(),
  status: async () => (await import('./status.js')).statusCommand(),
  peers: async () => (await import('./peers.js')).peersCommand(),
  url: async () => (await import('./url.js')).urlCommand(),
  vat: async () => (await import('./vat.js')).vatCommand(),
  vats: async () => (await import('./vat.js')).vatsCommand(),
  backup: async () => (await import('./backup.js')).backupCommand(),
  restore: async () => (await import('./restore.js')).restoreCommand(),
  call: async () => (await import('./call.js')).callCommand(),
  send: async () => (await import('./send.js')).sendCommand(),
  cluster: async () => (await import('./cluster.js')).clusterCommand(),
  'cluster-demo': async () => (await import('./clusterDemo.js')).clusterDemoCommand(),
  demo: async () => (await import('./demo.js')).demoCommand(),
  'peer-workload': async () => (await import('./peerWorkload.js')).peerWorkloadCommand(),
  chaos: async () => (await import('./chaos.js')).chaosCommand(),
  'chaos-node': async () => (await import('./chaos.js')).chaosNodeCommand(),
};

/** The program with `names` among its commands (every command, unless said): tests check scripts and compose files against it. */
export async function cliProgram(names: readonly string[] = Object.keys(commandLoaders)): Promise<Command> {
  const program = new Command('ken-node')
    .description('A peer node running an object-capability kernel with exactly-once, crash-proof messaging.')
    .showHelpAfterError()
    .exitOverride();
  for (const name of names) {
    const load = commandLoaders[name];
    if (load !== undefined) program.addCommand(await load());
  }
  // Subcommands (`vat list`...) too: a bad flag there is bad usage (2), not a crash.
  const exitOverride = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(exitOverride);
  };
  program.commands.forEach(exitOverride);
  return program;
}

/** Exit codes: 0 success, 1 the command ran and failed (a violated verdict, an error), 2 bad usage. */
export async function main(argv: readonly string[]): Promise<void> {
  // The command asked for alone; anything else (help, a misspelt command) gets them all, for the list.
  const name = argv[2];
  const program = await cliProgram(name !== undefined && name in commandLoaders ? [name] : undefined);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    // SES may leave `stack` empty: fall back to name and message.
    process.stderr.write(`ken-node: ${error instanceof Error ? error.stack || `${error.name}: ${error.message}` : String(error)}\n`);
    process.exitCode = 1;
  }
}
