import type { Frame, MessageBody } from './frames.js';
import { pairTagPattern } from './pairTag.js';

/**
 * The frames of a busy session (`msg` with a `deliver` or `notify` body,
 * and `ack`), checked in plain code: the frame schema (zod, frames.ts) is
 * the judge, and costs several microseconds a frame. This accepts only
 * frames the schema accepts, as they are: a frame it is unsure of (any other
 * kind, an extra key, a value of another type) it leaves to the schema,
 * which then accepts or refuses it and says why. `frameFastPath.test.ts`
 * holds the two to the same verdict over generated frames.
 */
export function fastFrame(json: unknown): Frame | undefined {
  if (!isRecord(json)) return undefined;
  switch (json.type) {
    case 'ack':
      return hasKeys(json, 5) && isSeq(json.ack) && isSeq(json.window) && isPairTag(json.pair) && isSeq(json.sent) ? (json as Frame) : undefined;
    case 'msg':
      return hasKeys(json, 6) && isSeq(json.seq) && json.seq >= 1 && isSeq(json.ack) && isSeq(json.window) && isPairTag(json.pair) && isBody(json.body) ? (json as Frame) : undefined;
    default:
      return undefined;
  }
}

type JsonRecord = Record<string, unknown>;

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

/** Exactly `count` own keys: with the named ones checked present, nothing else is there. */
function hasKeys(record: JsonRecord, count: number): boolean {
  return Object.keys(record).length === count;
}

function isPairTag(value: unknown): value is string {
  return typeof value === 'string' && pairTagPattern.test(value);
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A wire ref: `o+1`, `p-23` (the frame schema's, frames.ts, too). */
export const wireRefPattern = /^[op][+-][1-9][0-9]{0,15}$/;

function isWireRef(value: unknown): value is string {
  return typeof value === 'string' && wireRefPattern.test(value);
}

function isCapData(value: unknown): boolean {
  if (!isRecord(value) || !hasKeys(value, 2) || typeof value.body !== 'string' || !Array.isArray(value.slots)) return false;
  return value.slots.every(isWireRef);
}

function isBody(value: unknown): value is MessageBody {
  if (!isRecord(value)) return false;
  switch (value.kind) {
    case 'deliver':
      return hasKeys(value, 5) && isWireRef(value.target) && isCapData(value.methargs) && (value.result === null || isWireRef(value.result)) && isSeq(value.seen);
    case 'notify':
      return (
        hasKeys(value, 3) &&
        isSeq(value.seen) &&
        Array.isArray(value.resolutions) &&
        value.resolutions.length > 0 &&
        value.resolutions.every((resolution) => Array.isArray(resolution) && resolution.length === 3 && isWireRef(resolution[0]) && typeof resolution[1] === 'boolean' && isCapData(resolution[2]))
      );
    default:
      return false;
  }
}
