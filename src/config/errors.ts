/**
 * A configuration the node refuses: a bad value in the file, a flag or an
 * environment variable, no file at all, or a data directory whose secrets
 * group or others may access. Its message names the field, the value, where
 * it came from and what is allowed (or the file and the chmod that fixes
 * it); the CLI prints it and exits with the usage code (2) before anything
 * starts.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
