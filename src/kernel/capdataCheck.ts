import { Far } from '@endo/far';
import { makeMarshal } from '@endo/marshal';
import type { CapData } from '../store/types.js';
import { assert, AssertionError } from '../util/assert.js';

/**
 * The check every piece of marshalled data passes before a vat sees it:
 * capdata that comes from outside the node (a peer's message arguments and
 * resolutions) or that the kernel is about to deliver. Liveslots trusts the
 * kernel to hand it well-formed capdata: a body it cannot decode makes its
 * `dispatch` throw, which is no fault of the vat. Checked here, such data
 * is refused before any vat runs, and the message's sender is told why.
 *
 * Two paths, one verdict. A linear scan first bounds the body's nesting
 * (everything after it recurses). Then a fast walk over the parsed JSON
 * accepts what honest encoders write for plain data (strings, numbers,
 * bigints, the four constants, arrays, records, references); anything it
 * is not sure of (errors, tagged values, symbols, anything odd) goes to
 * @endo/marshal's own smallcaps decoder, the one liveslots uses, which is
 * the authority: what the fast walk accepts, the decoder accepts too
 * (`capdataCheck.test.ts` checks that property), and what the decoder
 * accepts decodes in liveslots. The decoder costs tens of microseconds a
 * message; the walk a few.
 */

/** Bounds on one piece of capdata. Honest data is far inside them; each is a place an attacker could spend the node's stack or memory. */
export interface CapDataLimits {
  /** Longest body, in UTF-16 code units. */
  bodyCharsMax: number;
  /** Deepest nesting of arrays and records in the body. */
  depthMax: number;
  /** Most slots (references) in one piece of capdata. */
  slotsMax: number;
  /** Longest method name of a message. */
  methodNameCharsMax: number;
}

/**
 * Generous for any honest message and small enough that checking or
 * decoding one costs microseconds to milliseconds, never the stack: the
 * body is bounded by the frame cap anyway (1 MiB by default).
 */
export const defaultCapDataLimits: CapDataLimits = {
  bodyCharsMax: 1024 * 1024,
  depthMax: 64,
  slotsMax: 1024,
  methodNameCharsMax: 256,
};

/** What a slot names, by its kind; anything else makes the data unusable. */
export type SlotKind = 'object' | 'promise';

/** The kind of a kernel ref in a slot (`koN`, `kpN`). */
export function krefSlotKind(slot: string): SlotKind | undefined {
  if (slot.startsWith('ko')) return 'object';
  if (slot.startsWith('kp')) return 'promise';
  return undefined;
}

/** Why a piece of capdata was refused: a typed reason a sender can be told. */
export class CapDataError extends Error {
  override name = 'CapDataError';
}

/** Decodes bodies for the full check; its slots are the indexes of the check in progress. */
const marshal = makeMarshal(undefined, (index: string | undefined, iface: string | undefined) => placeholderFor(index, iface), {
  serializeBodyFormat: 'smallcaps',
});

/** The smallcaps prefix: the only body encoding in use (liveslots and the kernel both write it). */
const smallcapsPrefix = '#';

/**
 * Throws {@link CapDataError} unless `data` is well-formed smallcaps within
 * `limits`, every slot is referenced by the body, every reference in the
 * body names a slot, and each names a slot of the kind it claims (`$N` an
 * object, `&N` a promise) as `slotKind` reads it.
 */
export function checkCapData(data: CapData, slotKind: (slot: string) => SlotKind | undefined, limits: CapDataLimits = defaultCapDataLimits): void {
  const tree = parseBounded(data, limits);
  if (!isPlainData(tree, data.slots, slotKind)) fullCheck(data, slotKind);
}

/**
 * Checks a message's `methargs`: capdata of `[method, args]` with a string
 * method of bounded length and an array of arguments (liveslots reads a
 * missing `args` as a property get, and any other method as a function
 * call, neither of which a ken-node message means).
 */
export function checkMethargs(data: CapData, slotKind: (slot: string) => SlotKind | undefined, limits: CapDataLimits = defaultCapDataLimits): void {
  const tree = parseBounded(data, limits);
  let method: unknown;
  let args: unknown;
  if (Array.isArray(tree) && tree.length === 2 && isPlainString(tree[0]) && Array.isArray(tree[1]) && isPlainData(tree, data.slots, slotKind)) {
    method = decodePlainString(tree[0] as string);
    args = tree[1];
  } else {
    const value = fullCheck(data, slotKind);
    if (!Array.isArray(value) || value.length !== 2) throw new CapDataError('methargs is not [method, args]');
    [method, args] = value as unknown[];
  }
  if (typeof method !== 'string') throw new CapDataError(`method name is ${method === null ? 'null' : typeof method}, not a string`);
  if (method.length > limits.methodNameCharsMax) throw new CapDataError(`method name of ${method.length} characters, more than ${limits.methodNameCharsMax}`);
  if (!Array.isArray(args)) throw new CapDataError('arguments are not an array');
}

/** The body's JSON, once its size, its slot count and its nesting are within bounds. */
function parseBounded(data: CapData, limits: CapDataLimits): unknown {
  const { body, slots } = data;
  if (body.length > limits.bodyCharsMax) throw new CapDataError(`body of ${body.length} characters, more than ${limits.bodyCharsMax}`);
  if (slots.length > limits.slotsMax) throw new CapDataError(`${slots.length} slots, more than ${limits.slotsMax}`);
  if (!body.startsWith(smallcapsPrefix)) throw new CapDataError('body is not smallcaps (it must start with "#")');
  const json = body.slice(smallcapsPrefix.length);
  if (nestingDepth(json, limits.depthMax) > limits.depthMax) throw new CapDataError(`body nested more than ${limits.depthMax} deep`);
  try {
    return JSON.parse(json) as unknown;
  } catch (error) {
    throw new CapDataError(`body does not decode: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The decoder's verdict, and the decoded value (with stand-ins for the slots). Exported for the test that holds both paths to one verdict. */
export function fullCheck(data: CapData, slotKind: (slot: string) => SlotKind | undefined): unknown {
  const { body, slots } = data;
  const check: SlotCheck = { slots, used: new Set(), slotKind };
  let value: unknown;
  current = check;
  try {
    value = marshal.fromCapData({ body, slots: slots.map((_slot, index) => String(index)) });
  } catch (error) {
    if (error instanceof CapDataError || error instanceof AssertionError) throw error;
    throw new CapDataError(`body does not decode: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    current = undefined;
  }
  if (check.used.size !== slots.length) throw new CapDataError(`${slots.length - check.used.size} of ${slots.length} slots are not referenced by the body`);
  return value;
}

/** Smallcaps gives a meaning to strings that start with one of `!"#$%&'()*+,-`. */
function startsSpecial(text: string): boolean {
  const code = text.charCodeAt(0);
  return code >= 0x21 && code <= 0x2d;
}

/** A string that decodes to a string: plain, or escaped with `!`. */
function isPlainString(value: unknown): boolean {
  return typeof value === 'string' && (!startsSpecial(value) || value.charCodeAt(0) === 0x21);
}

function decodePlainString(text: string): string {
  return startsSpecial(text) ? text.slice(1) : text;
}

const constants = new Set(['#undefined', '#NaN', '#Infinity', '#-Infinity']);
const bigintPattern = /^[+-](0|[1-9][0-9]*)$/;
const remotablePattern = /^\$(0|[1-9][0-9]{0,9})(\.[^]*)?$/;
const promisePattern = /^&(0|[1-9][0-9]{0,9})$/;

/**
 * The fast walk: true if `tree` is plain smallcaps data whose references
 * match `slots` (each used, each of its kind); false if it cannot tell, and
 * the decoder must judge. It never refuses on its own, so the reasons a
 * sender hears are the decoder's. Iterative: nesting is bounded already, but
 * a stack of its own keeps the walk cheap. Exported for that same test.
 */
export function isPlainData(tree: unknown, slots: readonly string[], slotKind: (slot: string) => SlotKind | undefined): boolean {
  const used = new Set<number>();
  const pending: unknown[] = [tree];
  while (pending.length > 0) {
    const value = pending.pop();
    switch (typeof value) {
      case 'boolean':
      case 'number':
        break;
      case 'string':
        if (!isPlainReference(value, slots, slotKind, used)) return false;
        break;
      case 'object':
        if (value === null) break;
        if (Array.isArray(value)) {
          for (const item of value) pending.push(item);
          break;
        }
        for (const [key, item] of Object.entries(value)) {
          // `#tag`, `#error` and the like are for the decoder; other keys decode to themselves.
          if (!isPlainString(key)) return false;
          pending.push(item);
        }
        break;
      default:
        return false;
    }
  }
  return used.size === slots.length;
}

/** A string of plain data: text, a constant, a bigint, or a reference to a slot of the right kind (recorded in `used`). */
function isPlainReference(text: string, slots: readonly string[], slotKind: (slot: string) => SlotKind | undefined, used: Set<number>): boolean {
  if (text === '' || !startsSpecial(text)) return true;
  switch (text.charCodeAt(0)) {
    case 0x21 /* ! */:
      return true;
    case 0x23 /* # */:
      return constants.has(text);
    case 0x2b /* + */:
    case 0x2d /* - */:
      return bigintPattern.test(text);
    case 0x24 /* $ */:
      return usesSlot(remotablePattern.exec(text), 'object', slots, slotKind, used);
    case 0x26 /* & */:
      return usesSlot(promisePattern.exec(text), 'promise', slots, slotKind, used);
    default:
      return false;
  }
}

function usesSlot(match: RegExpExecArray | null, kind: SlotKind, slots: readonly string[], slotKind: (slot: string) => SlotKind | undefined, used: Set<number>): boolean {
  if (match === null) return false;
  const iface = match[2]?.slice(1);
  if (iface !== undefined && !isInterfaceName(iface)) return false;
  const index = Number(match[1]);
  const slot = slots[index];
  if (slot === undefined || slotKind(slot) !== kind) return false;
  used.add(index);
  return true;
}

/** The slot table of the full check in progress: the decoder is shared, and checks do not nest. */
interface SlotCheck {
  slots: readonly string[];
  used: Set<number>;
  slotKind: (slot: string) => SlotKind | undefined;
}
let current: SlotCheck | undefined;

/**
 * What the decoder gets for a slot: a stand-in of the kind the slot names.
 * The decoder insists that `$N` decodes to a remotable and `&N` to a
 * promise, so a body that claims the other kind than its slot is refused.
 * It is given slot indexes as its slots, so an index outside the table
 * arrives here as `undefined`.
 */
function placeholderFor(indexText: string | undefined, iface: string | undefined): object {
  const check = current;
  assert(check !== undefined, 'capdata placeholder outside a check');
  if (indexText === undefined) throw new CapDataError(`body refers to a slot beyond the ${check.slots.length} given`);
  const index = Number(indexText);
  const slot = check.slots[index] as string;
  const kind = check.slotKind(slot);
  if (kind === undefined) throw new CapDataError(`slot ${index} (${JSON.stringify(slot.slice(0, 40))}) is not a reference`);
  if (iface !== undefined && !isInterfaceName(iface)) throw new CapDataError(`slot ${index} has the interface name ${JSON.stringify(iface.slice(0, 40))}`);
  check.used.add(index);
  return kind === 'object' ? Far('slot', {}) : harden(new Promise(() => {}));
}

/**
 * An interface name liveslots can give the presence it makes for an import
 * (pass-style refuses any other, and liveslots' dispatch would throw).
 */
function isInterfaceName(iface: string): boolean {
  return iface === 'Remotable' || iface.startsWith('Alleged: ') || iface.startsWith('DebugName: ');
}

/**
 * The deepest nesting of `[` and `{` in `json`, read outside strings; stops
 * counting once past `max` (the caller refuses such a body). Linear, with
 * no recursion: it runs before the recursive decoder.
 */
function nestingDepth(json: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let index = 0; index < json.length; index += 1) {
    const code = json.charCodeAt(index);
    if (inString) {
      if (code === 0x5c /* \ */) index += 1;
      else if (code === 0x22 /* " */) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x5b /* [ */ || code === 0x7b /* { */) {
      depth += 1;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > max) return deepest;
      }
    } else if (code === 0x5d /* ] */ || code === 0x7d /* } */) {
      depth -= 1;
    }
  }
  return deepest;
}
