import pino from 'pino';
import { readableLogLine } from './logFormat.js';
import type { LogLevel } from './logLevels.js';

/** The log methods ken-node uses; pino's logger satisfies it. */
export interface Logger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export { logLevels, type LogLevel } from './logLevels.js';

/**
 * The node's structured logger: pino on stderr (stdout is for command
 * output). JSON lines, unless `readable` (by default: when stderr is a
 * terminal), then one line per event for a person ({@link readableLogLine}).
 */
export function makeLogger(options: { level: LogLevel; name?: string; readable?: boolean }): Logger {
  const settings = { level: options.level, name: options.name, base: undefined };
  if (!(options.readable ?? process.stderr.isTTY === true)) return pino(settings, pino.destination(2));
  return pino(settings, { write: (line: string) => void process.stderr.write(`${readableLogLine(line.trimEnd())}\n`) });
}

const ignore = () => {};

/** Says nothing: for simulations, whose nodes crash on purpose thousands of times. */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
