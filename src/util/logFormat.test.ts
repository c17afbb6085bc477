import { describe, expect, it } from 'vitest';
import { readableLogLine } from './logFormat.js';

describe('readableLogLine', () => {
  it('puts time, level and message first, and keeps every other field', () => {
    const line = JSON.stringify({ level: 40, time: Date.UTC(2026, 10, 29, 23, 5, 7, 42), name: 'ken-node', msg: 'bad frame', peerId: 'P' });
    expect(readableLogLine(line)).toBe('23:05:07.042 WARN  bad frame {"name":"ken-node","peerId":"P"}');
  });

  it('escapes control characters in the message, so logged text cannot drive the terminal', () => {
    const line = JSON.stringify({ level: 30, time: 0, msg: 'vat says \u001b[2J\u001b]0;owned\u0007 done' });
    expect(readableLogLine(line)).toBe('00:00:00.000 INFO  vat says \\u001b[2J\\u001b]0;owned\\u0007 done');
  });

  it('leaves a line that is not a JSON object as it is', () => {
    expect(readableLogLine('plain text')).toBe('plain text');
    expect(readableLogLine('42')).toBe('42');
  });
});
