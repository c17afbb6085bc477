import { InvalidArgumentError } from 'commander';
import { durabilities, type Durability } from '../store/index.js';
import type { LogLevel } from '../util/logger.js';

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

export function durability(value: string): Durability {
  if (!(durabilities as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`expected one of ${durabilities.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as Durability;
}

const logLevels: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export function logLevel(value: string): LogLevel {
  if (!(logLevels as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`expected one of ${logLevels.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as LogLevel;
}
