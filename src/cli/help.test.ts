import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../util/packageRoot.js';
import { cliProgram } from './main.js';

/** The commands for running and managing a node, which docs/operations.md must cover; the demos and chaos runs are docs/testing.md's and the README's. */
const demoCommands = new Set(['cluster-demo', 'demo', 'peer-workload', 'chaos', 'chaos-node']);

/** Each command under `command`, with its words (`vat create`). */
function commandsOf(command: Command, words: string[] = []): { words: string; command: Command }[] {
  return command.commands.flatMap((sub) => [{ words: [...words, sub.name()].join(' '), command: sub }, ...commandsOf(sub, [...words, sub.name()])]);
}

describe('the CLI and docs/operations.md', () => {
  it('names every node command and every one of its flags', async () => {
    const docs = readFileSync(path.join(packageRoot, 'docs', 'operations.md'), 'utf8');
    const nodeCommands = commandsOf(await cliProgram()).filter(({ words }) => !demoCommands.has(words.split(' ')[0] as string));
    expect(nodeCommands.map(({ words }) => words)).toContain('vat upgrade');
    const missing = nodeCommands.flatMap(({ words, command }) => [
      ...(docs.includes(`ken-node ${words}`) ? [] : [`ken-node ${words}`]),
      ...command.options.flatMap((option) => (option.long === undefined || docs.includes(option.long) ? [] : [`ken-node ${words} ${option.long}`])),
    ]);
    expect(missing).toEqual([]);
  });
});
