import path from 'node:path';
import { ConfigError } from './errors.js';

/**
 * The settings a flag or an environment variable can give, and how such a
 * value (always text) becomes a config value. A flag beats its variable,
 * which beats the file, which beats the default; a flag or variable replaces
 * the file's value whole (a list is not merged). The schema then judges the
 * result, whatever its origin, so there is one rule per field.
 */

/**
 * How a setting's text becomes a value:
 * - `text`: as given.
 * - `wholeNumber`: digits become a number; anything else stays text, for
 *   the schema to refuse with the field's rule.
 * - `list`: repeated flags, or one variable with values separated by spaces.
 * - `peers`: like `list`, each value `name=ocap-url`.
 * - `path`: resolved against the working directory.
 */
export type SettingKind = 'text' | 'wholeNumber' | 'list' | 'peers' | 'path';

export interface ConfigSetting {
  /** The field in the file, e.g. `['commit', 'maxCranks']`. */
  field: readonly string[];
  flag: string;
  /** How `--help` shows the value, e.g. `<n>`. */
  placeholder: string;
  env: string;
  kind: SettingKind;
  description: string;
}

export const configSettings: readonly ConfigSetting[] = [
  {
    field: ['listen'],
    flag: '--listen',
    placeholder: '<multiaddr>',
    env: 'KEN_LISTEN',
    kind: 'list',
    description: 'a libp2p listen address; repeat for more (in KEN_LISTEN, separate them with spaces)',
  },
  {
    field: ['announce'],
    flag: '--announce',
    placeholder: '<multiaddr>',
    env: 'KEN_ANNOUNCE',
    kind: 'list',
    description: 'an address peers are told to dial instead of the listen addresses (behind a proxy or NAT); repeat for more',
  },
  { field: ['durability'], flag: '--durability', placeholder: '<mode>', env: 'KEN_DURABILITY', kind: 'text', description: 'fsync (survives power loss) or process (survives a process crash)' },
  { field: ['commit', 'maxCranks'], flag: '--commit-cranks', placeholder: '<n>', env: 'KEN_COMMIT_CRANKS', kind: 'wholeNumber', description: 'COMMIT after this many cranks (1 = a COMMIT per crank)' },
  { field: ['commit', 'maxDelayMs'], flag: '--commit-delay-ms', placeholder: '<ms>', env: 'KEN_COMMIT_DELAY_MS', kind: 'wholeNumber', description: 'COMMIT once the oldest uncommitted crank is this old' },
  {
    field: ['allowPeers'],
    flag: '--allow-peer',
    placeholder: '<peer id>',
    env: 'KEN_ALLOW_PEERS',
    kind: 'list',
    description: 'the only peers to connect with, either way; repeat for more (in KEN_ALLOW_PEERS, separate them with spaces); unset: any peer',
  },
  {
    field: ['limits', 'crankDeadlineMs'],
    flag: '--crank-deadline-ms',
    placeholder: '<ms>',
    env: 'KEN_CRANK_DEADLINE_MS',
    kind: 'wholeNumber',
    description: 'a delivery that keeps the node\'s thread this long is abandoned and its vat failed (0: no deadline)',
  },
  { field: ['maxFrameBytes'], flag: '--max-frame-bytes', placeholder: '<n>', env: 'KEN_MAX_FRAME_BYTES', kind: 'wholeNumber', description: 'a larger frame from a peer closes its connection' },
  { field: ['admin', 'port'], flag: '--admin-port', placeholder: '<port>', env: 'KEN_ADMIN_PORT', kind: 'wholeNumber', description: 'the admin HTTP port on 127.0.0.1 (0: any free port, written to <data-dir>/admin.json)' },
  { field: ['logLevel'], flag: '--log-level', placeholder: '<level>', env: 'KEN_LOG_LEVEL', kind: 'text', description: 'debug, info, warn, error or silent (JSON lines on stderr)' },
  { field: ['bootstrap', 'source'], flag: '--bootstrap', placeholder: '<file>', env: 'KEN_BOOTSTRAP', kind: 'path', description: 'the bootstrap vat\'s module, created at the first start' },
  {
    field: ['peers'],
    flag: '--peer',
    placeholder: '<name=url>',
    env: 'KEN_PEERS',
    kind: 'peers',
    description: 'a peer to introduce to the bootstrap vat (addPeer); repeat for more (in KEN_PEERS, separate them with spaces)',
  },
];

/** A setting given on the command line or in the environment. */
export interface Override {
  setting: ConfigSetting;
  /** One value, or several for a repeated flag. */
  value: string | readonly string[];
  /** Where it came from, as the user would write it: `--durability` or `KEN_DURABILITY`. */
  origin: string;
}

/** A file's contents with overrides applied, and which fields they set (by dotted name) and from where. */
export interface OverriddenConfig {
  raw: Record<string, unknown>;
  origins: Map<string, string>;
}

export function applyOverrides(file: Record<string, unknown>, overrides: readonly Override[], cwd: string): OverriddenConfig {
  const raw = structuredClone(file);
  const origins = new Map<string, string>();
  for (const override of overrides) {
    setField(raw, override.setting.field, valueOf(override, cwd));
    origins.set(override.setting.field.join('.'), override.origin);
  }
  return { raw, origins };
}

function valueOf(override: Override, cwd: string): unknown {
  const texts = typeof override.value === 'string' ? [override.value] : override.value;
  const words = texts.flatMap((text) => text.split(/\s+/)).filter((word) => word !== '');
  const text = texts.join(' ');
  switch (override.setting.kind) {
    case 'text':
      return text;
    case 'wholeNumber':
      return /^[0-9]{1,15}$/.test(text) ? Number(text) : text;
    case 'path':
      return path.resolve(cwd, text);
    case 'list':
      return words;
    case 'peers':
      return Object.fromEntries(words.map((word) => peerEntry(word, override.origin)));
    default:
      throw new Error(`unknown setting kind ${JSON.stringify(override.setting.kind satisfies never)}`);
  }
}

function peerEntry(word: string, origin: string): [string, string] {
  const entry = splitPeerEntry(word);
  if (entry === undefined) {
    throw new ConfigError(`bad config: peers entry ${JSON.stringify(word)} (from ${origin}): expected name=ocap-url`);
  }
  return entry;
}

/** `name=url` as [name, url]; undefined without a name before the `=`. The schema judges both parts. */
export function splitPeerEntry(word: string): [string, string] | undefined {
  const separator = word.indexOf('=');
  return separator <= 0 ? undefined : [word.slice(0, separator), word.slice(separator + 1)];
}

/** Sets `object.a.b = value` for field `['a', 'b']`, making (or replacing a non-object with) `{}` on the way. */
function setField(object: Record<string, unknown>, field: readonly string[], value: unknown): void {
  let node = object;
  for (const key of field.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = field.at(-1);
  if (last !== undefined) node[last] = value;
}
