import pino from 'pino';

/** The log methods ken-node uses; pino's logger satisfies it. */
export interface Logger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export const logLevels = ['debug', 'info', 'warn', 'error', 'silent'] as const satisfies readonly LogLevel[];

/** The node's structured logger: pino, JSON lines on stderr (stdout is for command output). */
export function makeLogger(options: { level: LogLevel; name?: string }): Logger {
  return pino({ level: options.level, name: options.name, base: undefined }, pino.destination(2));
}

const ignore = () => {};

/** Says nothing: for simulations, whose nodes crash on purpose thousands of times. */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
