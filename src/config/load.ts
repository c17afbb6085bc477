import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { writeFileAtomically } from '../util/atomicFile.js';
import { privateFileMode } from '../util/fileModes.js';
import type { DataDirFiles } from './dataDir.js';
import { ConfigError } from './errors.js';
import { applyOverrides, type Override } from './overrides.js';
import { configFields, nodeConfigSchema, type NodeConfig } from './schema.js';

/** Where values that are neither in the file nor overridden come from, in messages. */
export interface ConfigSource {
  /** The file's path (or `defaults` when there is no file yet, as in `init`). */
  origin: string;
  /** What a relative `bootstrap.source` in the file is relative to. */
  baseDirectory: string;
  /** What a relative path in a flag or variable is relative to. */
  cwd: string;
}

/** Reads `<data-dir>/ken-node.json`, applies flags and variables, and validates; throws {@link ConfigError}. */
export function loadConfig(files: DataDirFiles, overrides: readonly Override[], cwd = process.cwd()): NodeConfig {
  let text: string;
  try {
    text = readFileSync(files.config, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new ConfigError(`no config at ${files.config}: run \`ken-node init --data-dir ${files.directory}\` first`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`bad config: ${files.config} is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`bad config: ${files.config} must hold a JSON object, not ${JSON.stringify(parsed)}`);
  }
  return resolveConfig(parsed as Record<string, unknown>, overrides, { origin: files.config, baseDirectory: files.directory, cwd });
}

/** Applies `overrides` to `file` and validates the result; every default filled, paths absolute. */
export function resolveConfig(file: Record<string, unknown>, overrides: readonly Override[], source: ConfigSource): NodeConfig {
  const { raw, origins } = applyOverrides(file, overrides, source.cwd);
  const result = nodeConfigSchema.safeParse(raw);
  if (!result.success) {
    const originOf = (field: readonly PropertyKey[]) => originFor(field, origins, source.origin);
    throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, raw, originOf)).join('\n'));
  }
  const config = result.data;
  if (config.bootstrap !== undefined) {
    config.bootstrap.source = path.resolve(source.baseDirectory, config.bootstrap.source);
  }
  for (const vat of config.vats) vat.source = path.resolve(source.baseDirectory, vat.source);
  for (const name of Object.keys(config.bundles)) config.bundles[name] = path.resolve(source.baseDirectory, config.bundles[name] as string);
  return config;
}

/** The origin of the deepest overridden field that contains `field`, else the file's. */
function originFor(field: readonly PropertyKey[], origins: Map<string, string>, fileOrigin: string): string {
  for (let length = field.length; length > 0; length -= 1) {
    const origin = origins.get(field.slice(0, length).join('.'));
    if (origin !== undefined) return origin;
  }
  return fileOrigin;
}

/** One line per problem: the field, the value, where it came from, what is allowed. */
function describeIssue(issue: z.core.$ZodIssue, raw: unknown, originOf: (field: readonly PropertyKey[]) => string): string {
  const name = issue.path.map(String).join('.');
  const origin = originOf(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const at = name === '' ? '' : `${name}.`;
      const unknown = issue.keys.map((key) => JSON.stringify(at + key)).join(', ');
      const allowed = configFields(issue.path.map(String)).join(', ');
      return `bad config: unknown field ${unknown} (from ${origin}); the fields here are ${allowed}`;
    }
    case 'invalid_key': {
      const key = String(issue.path.at(-1));
      const rule = issue.issues[0]?.message ?? issue.message;
      return `bad config: ${issue.path.slice(0, -1).map(String).join('.')} has a bad name ${JSON.stringify(key)} (from ${origin}): expected ${rule}`;
    }
    default: {
      const value = valueAt(raw, issue.path);
      const shown = value === undefined ? 'is missing' : `= ${abbreviate(JSON.stringify(value))}`;
      return `bad config: ${name === '' ? 'the file' : name} ${shown} (from ${origin}): expected ${issue.message}`;
    }
  }
}

function valueAt(raw: unknown, field: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of field) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function abbreviate(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

/** Writes the config for its owner alone: its `peers` are ocap URLs, bearer capabilities. */
export function writeConfigFile(file: string, config: NodeConfig): void {
  writeFileAtomically(file, `${JSON.stringify(config, null, 2)}\n`, privateFileMode);
}
