import { Command, CommanderError } from 'commander';
import { backupCommand } from './backup.js';
import { callCommand } from './call.js';
import { chaosCommand, chaosNodeCommand } from './chaos.js';
import { clusterCommand } from './cluster.js';
import { clusterDemoCommand } from './clusterDemo.js';
import { demoCommand } from './demo.js';
import { initCommand } from './init.js';
import { peersCommand } from './peers.js';
import { peerWorkloadCommand } from './peerWorkload.js';
import { restoreCommand } from './restore.js';
import { startCommand } from './start.js';
import { statusCommand } from './status.js';
import { urlCommand } from './url.js';
import { sendCommand } from './send.js';
import { vatCommand, vatsCommand } from './vat.js';

/** Every command of `ken-node` (tests check scripts and compose files against it). */
export function cliProgram(): Command {
  const program = new Command('ken-node')
    .description('A peer node running an object-capability kernel with exactly-once, crash-proof messaging.')
    .showHelpAfterError()
    .exitOverride()
    .addCommand(initCommand())
    .addCommand(startCommand())
    .addCommand(statusCommand())
    .addCommand(peersCommand())
    .addCommand(urlCommand())
    .addCommand(vatCommand())
    .addCommand(vatsCommand())
    .addCommand(backupCommand())
    .addCommand(restoreCommand())
    .addCommand(callCommand())
    .addCommand(sendCommand())
    .addCommand(clusterCommand())
    .addCommand(clusterDemoCommand())
    .addCommand(demoCommand())
    .addCommand(peerWorkloadCommand())
    .addCommand(chaosCommand())
    .addCommand(chaosNodeCommand());
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
  const program = cliProgram();
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
