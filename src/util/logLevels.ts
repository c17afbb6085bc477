/** How much a node logs. (A module of its own, without pino: the CLI checks a level's name without loading the logger.) */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export const logLevels = ['debug', 'info', 'warn', 'error', 'silent'] as const satisfies readonly LogLevel[];
