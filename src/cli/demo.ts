import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { Kernel } from '../kernel/kernel.js';
import { defaultGroupCommit } from '../kernel/commitPolicy.js';
import { openStore, type Durability } from '../store/index.js';
import { makeLogger, type LogLevel } from '../util/logger.js';
import { runLocalWorkload } from '../workload/localWorkload.js';
import { durability, logLevel, nonNegativeNumber, positiveInteger } from './options.js';

interface DemoOptions {
  dataDir?: string;
  messages: number;
  batch: number;
  progress?: number;
  durability: Durability;
  commitCranks: number;
  commitDelayMs: number;
  logLevel: LogLevel;
  json: boolean;
}

/** `ken-node demo`: the single-node exactly-once workload, with a verdict. */
export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'run the local exactly-once demo: a sender vat sends numbered messages to a recorder vat, ' +
        'and the recorder\'s durable log is checked to be exactly 1..N. Resumes where it stopped when ' +
        'given the --data-dir of an interrupted run.',
    )
    .option('--data-dir <dir>', 'keep the store in this directory (default: a temporary one, removed at the end)')
    .option('--messages <n>', 'messages to send', positiveInteger, 5000)
    .option('--batch <n>', 'messages the sender sends per delivery', positiveInteger, 100)
    .option('--progress <n>', 'print progress every n messages (default: a tenth of --messages)', positiveInteger)
    .option('--durability <mode>', 'fsync (survives power loss) or process (survives a process crash)', durability, 'fsync')
    .option('--commit-cranks <n>', 'COMMIT after this many cranks (1 = strict)', positiveInteger, defaultGroupCommit.maxCranks)
    .option('--commit-delay-ms <ms>', 'COMMIT once the oldest uncommitted crank is this old', nonNegativeNumber, defaultGroupCommit.maxDelayMs)
    .option('--log-level <level>', 'debug, info, warn, error or silent (logs go to stderr)', logLevel, 'warn')
    .option('--json', 'print the summary as one JSON object', false)
    .action(async (options: DemoOptions) => {
      process.exitCode = await runDemo(options);
    });
}

async function runDemo(options: DemoOptions): Promise<number> {
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'ken-node-demo-'));
  mkdirSync(dataDir, { recursive: true });
  const storeFile = path.join(dataDir, 'kernel.sqlite');
  const logger = makeLogger({ level: options.logLevel, name: 'ken-node' });
  // Progress goes to stderr in both modes; stdout holds only the result.
  const say = (line: string) => void process.stderr.write(`${line}\n`);
  try {
    say(
      `ken-node demo: ${options.messages} messages, sender vat -> recorder vat, durability ${options.durability}, ` +
        `commit every ${options.commitCranks} cranks or ${options.commitDelayMs} ms; store ${storeFile}`,
    );
    const started = performance.now();
    const store = openStore({ path: storeFile, durability: options.durability });
    const kernel = await Kernel.start({
      store,
      logger,
      commit: { maxCranks: options.commitCranks, maxDelayMs: options.commitDelayMs },
    });
    const progressEvery = options.progress ?? Math.ceil(options.messages / 10);
    let reported = 0;
    const verdict = await runLocalWorkload(kernel, {
      messages: options.messages,
      batch: options.batch,
      onProgress: (sent) => {
        if (sent - reported >= progressEvery || sent === options.messages) {
          reported = sent;
          say(`  ${sent}/${options.messages} sent and consumed`);
        }
      },
    });
    const seconds = (performance.now() - started) / 1000;
    const { cranks, commits } = kernel.stats;
    kernel.close();
    const summary = {
      verdict: verdict.exactlyOnceInOrder ? 'exactly-once-in-order' : 'VIOLATION',
      messages: options.messages,
      consumed: verdict.consumed,
      ...(verdict.firstMismatch && { firstMismatch: verdict.firstMismatch }),
      cranks,
      commits,
      seconds: Number(seconds.toFixed(3)),
      cranksPerSecond: Math.round(cranks / seconds),
    };
    if (options.json) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      process.stdout.write(
        [
          verdict.exactlyOnceInOrder
            ? `verdict: every message consumed exactly once, in order (${verdict.consumed} of ${options.messages})`
            : `verdict: VIOLATION: ${JSON.stringify(verdict.firstMismatch)}`,
          `  cranks this run   ${cranks}`,
          `  commits this run  ${commits}`,
          `  elapsed           ${summary.seconds} s`,
          `  cranks/s          ${summary.cranksPerSecond}`,
          '',
        ].join('\n'),
      );
    }
    return verdict.exactlyOnceInOrder ? 0 : 1;
  } finally {
    if (temporary) rmSync(dataDir, { recursive: true, force: true });
  }
}
