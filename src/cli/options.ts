import { InvalidArgumentError } from 'commander';
import { isName, nameRule } from '../kernel/vatNames.js';
import { durabilities, type Durability } from '../store/durability.js';
import { logLevels, type LogLevel } from '../util/logLevels.js';
import { vatRuntimes, type VatRuntime } from '../vats/runtimes.js';

/** commander argument parsers that name what is allowed when a value is not. */

export function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError(`expected a whole number >= 1, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

export function nonNegativeNumber(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0) {
    throw new InvalidArgumentError(`expected a number >= 0, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/** A parser that takes one of `allowed`. */
function oneOf<T extends string>(allowed: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(allowed as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value as T;
  };
}

export const durability: (value: string) => Durability = oneOf(durabilities);
export const vatRuntime: (value: string) => VatRuntime = oneOf(vatRuntimes);
export const logLevel: (value: string) => LogLevel = oneOf(logLevels);

/** A duration like `3s`, `500ms`, `2m`, `1h` or `7d`, in milliseconds. */
export function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (match === null) throw new InvalidArgumentError(`expected a duration like 500ms, 3s, 2m, 1h or 7d, got ${JSON.stringify(value)}`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  const ms = Number(match[1]) * scale;
  if (ms <= 0) throw new InvalidArgumentError(`expected a duration above 0, got ${JSON.stringify(value)}`);
  return ms;
}

/** A probability or rate between 0 and 1. */
export function fraction(value: string): number {
  const parsed = nonNegativeNumber(value);
  if (parsed > 1) throw new InvalidArgumentError(`expected a number from 0 to 1, got ${JSON.stringify(value)}`);
  return parsed;
}

/** A non-negative integer (a seed). */
export function wholeNumber(value: string): number {
  const parsed = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(parsed)) {
    throw new InvalidArgumentError(`expected a whole number >= 0, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/** A range of seeds, `A..B` (both included, A <= B). */
export function seedRange(value: string): { from: number; to: number } {
  const match = /^(\d+)\.\.(\d+)$/.exec(value);
  const from = Number(match?.[1]);
  const to = Number(match?.[2]);
  if (match === null || !Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from > to) {
    throw new InvalidArgumentError(`expected seeds as A..B with A <= B, got ${JSON.stringify(value)}`);
  }
  return { from, to };
}

/** A libp2p transport the CLI can set up a listen address for. */
export type TransportKind = 'tcp' | 'ws';

export function transportKind(value: string): TransportKind {
  if (value !== 'tcp' && value !== 'ws') throw new InvalidArgumentError(`expected tcp or ws, got ${JSON.stringify(value)}`);
  return value;
}

/** Arguments of a call, each a JSON value, collected in order (`call`, `send`). */
export function jsonArgument(value: string, previous: unknown[]): unknown[] {
  try {
    return [...previous, JSON.parse(value) as unknown];
  } catch {
    throw new InvalidArgumentError(`expected a JSON value, got ${JSON.stringify(value)} (quote text: '"text"')`);
  }
}

/** A vat's name, as the config allows it. */
export function vatName(value: string): string {
  if (!isName(value)) throw new InvalidArgumentError(`expected a vat name: ${nameRule}, got ${JSON.stringify(value)}`);
  return value;
}
