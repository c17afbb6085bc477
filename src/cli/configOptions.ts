import { Command, Option } from 'commander';
import { configSettings, type ConfigSetting, type Override } from '../config/overrides.js';
import { nodeConfigSchema } from '../config/schema.js';

/**
 * The flags and environment variables that override a node's config file,
 * made from the config's own table of settings. commander reads each from
 * its flag or else its variable, with no default of its own (the default is
 * the schema's, below the file); the schema judges every value.
 */

/** `--data-dir` (or KEN_DATA_DIR): every node command needs it. */
export function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'the node\'s data directory').env('KEN_DATA_DIR').makeOptionMandatory();
}

export function addConfigOptions(command: Command, verb: string): Command {
  const defaults = nodeConfigSchema.parse({}) as Record<string, unknown>;
  for (const setting of configSettings) {
    const option = new Option(
      `${setting.flag} ${setting.placeholder}`,
      `${verb} ${setting.field.join('.')}: ${setting.description}${defaultText(defaults, setting)}`,
    ).env(setting.env);
    if (setting.kind === 'list' || setting.kind === 'peers') {
      option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    }
    command.addOption(option);
  }
  return command;
}

/** The settings given to `command` by flag or variable, each with the name it was given by. */
export function overridesOf(command: Command): Override[] {
  return configSettings.flatMap((setting) => {
    const option = command.options.find((candidate) => candidate.long === setting.flag);
    if (option === undefined) return [];
    const key = option.attributeName();
    const value = command.getOptionValue(key) as string | string[] | undefined;
    if (value === undefined) return [];
    return [{ setting, value, origin: command.getOptionValueSource(key) === 'env' ? setting.env : setting.flag }];
  });
}

function defaultText(defaults: Record<string, unknown>, setting: ConfigSetting): string {
  let value: unknown = defaults;
  for (const key of setting.field) value = (value as Record<string, unknown> | undefined)?.[key];
  if (value === undefined) return '';
  return ` (default: ${Array.isArray(value) ? value.join(' ') : typeof value === 'object' ? 'none' : String(value)})`;
}
