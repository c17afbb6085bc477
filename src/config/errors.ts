/**
 * A configuration the node refuses: a bad value in the file, a flag or an
 * environment variable, or no file at all. Its message names the field, the
 * value, where it came from and what is allowed; the CLI prints it and exits
 * with the usage code (2) before anything starts.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
