/** pino's numeric levels, by the names a reader knows. */
const levelNames: Record<string, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * A pino JSON line for a person: `HH:MM:SS.mmm LEVEL message {other fields}`
 * (UTC). A line that is not JSON comes back as it is, its control characters escaped.
 */
export function readableLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return escapeControls(line);
  }
  if (typeof entry !== 'object' || entry === null) return escapeControls(line);
  const { level, time, msg, ...fields } = entry;
  const clock = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const rest = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
  return `${clock} ${(levelNames[String(level)] ?? String(level)).padEnd(5)} ${escapeControls(String(msg ?? ''))}${rest}`;
}

/**
 * Control characters as `\u001b`-style escapes: a message may carry text a
 * vat or a peer chose, which must not drive the operator's terminal. (The
 * fields are JSON already, which escapes them.)
 */
function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
