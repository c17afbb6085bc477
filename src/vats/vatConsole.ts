import type { Logger } from '../util/logger.js';

/** The console a vat gets: its lines go to the node's log, tagged with the vat. */
export interface VatConsole {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
}

export function makeVatConsole(logger: Logger, vat: string): VatConsole {
  const line =
    (level: keyof Logger) =>
    (...args: unknown[]) =>
      logger[level]({ vat }, args.map((arg) => (typeof arg === 'string' ? arg : safeString(arg))).join(' '));
  return harden({ log: line('info'), info: line('info'), warn: line('warn'), error: line('error'), debug: line('debug') });
}

export function safeString(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
