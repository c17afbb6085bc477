import pino from 'pino';
import type { Logger } from '../kernel/context.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** The node's structured logger: pino, JSON lines on stderr (stdout is for command output). */
export function makeLogger(options: { level: LogLevel; name?: string }): Logger {
  return pino({ level: options.level, name: options.name, base: undefined }, pino.destination(2));
}
