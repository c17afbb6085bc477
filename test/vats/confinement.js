// A vat that tries every way out of its Compartment it can think of and
// reports, per attempt, what it reached. The confinement test asserts that
// no attempt reached anything of the host.
import { Far } from '@endo/far';

// Spelled at run time: SES refuses, at load, any source text holding an
// import expression or a direct eval, and this vat must load to try it at run time.
const importWord = ['imp', 'ort'].join('');
const evalWord = ['ev', 'al'].join('');

/** Names of host powers; a global object that has any of them is the host's. */
const hostGlobalNames = [
  'process', 'require', 'module', 'Buffer', 'global', 'setTimeout', 'setInterval', 'setImmediate',
  'fetch', 'WebSocket', 'XMLHttpRequest', 'performance', 'navigator',
];

/** The host powers `object` carries, or undefined if none (a Compartment's own global has none). */
function hostPowersOf(object) {
  if (object === undefined || object === null) return undefined;
  const found = hostGlobalNames.filter((name) => object[name] !== undefined);
  return found.length > 0 ? found : undefined;
}

/** A finite number is a reading of the host's clock or randomness. */
const finite = (value) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/** A V8 CallSite array would hand out the host functions and receivers on the stack. */
function callSitePowers(stack) {
  if (!Array.isArray(stack)) return undefined;
  return stack.map((site) => hostPowersOf(site.getThis?.()) ?? typeof site.getFunction?.()).join(',');
}

/**
 * Each attempt returns what it reached of the host (undefined: nothing) or
 * throws. `marker` is a file path the fs attempts write to if they get fs.
 */
function attempts(vatPowers, marker) {
  const writeWith = (fs) => {
    if (typeof fs?.writeFileSync !== 'function') return undefined;
    fs.writeFileSync(marker, 'escaped');
    return 'wrote the marker file';
  };
  const fromBody = (body) => body('return typeof process === "undefined" ? undefined : process')();
  return {
    // Free variables and globals of the host.
    'process': () => (typeof process === 'undefined' ? undefined : process),
    'require': () => (typeof require === 'undefined' ? undefined : writeWith(require('fs')) ?? 'require'),
    'module': () => (typeof module === 'undefined' ? undefined : module),
    '__dirname': () => (typeof __dirname === 'undefined' ? undefined : __dirname),
    'Buffer': () => (typeof Buffer === 'undefined' ? undefined : Buffer),
    'global': () => (typeof global === 'undefined' ? undefined : global),
    'fetch': () => (typeof fetch === 'undefined' ? undefined : fetch),
    'WebSocket': () => (typeof WebSocket === 'undefined' ? undefined : WebSocket),
    'XMLHttpRequest': () => (typeof XMLHttpRequest === 'undefined' ? undefined : XMLHttpRequest),
    'setTimeout': () => (typeof setTimeout === 'undefined' ? undefined : setTimeout),
    'setInterval': () => (typeof setInterval === 'undefined' ? undefined : setInterval),
    'setImmediate': () => (typeof setImmediate === 'undefined' ? undefined : setImmediate),
    'globalThis': () => hostPowersOf(globalThis),
    // Clock and randomness: tamed in a Compartment.
    'Date.now()': () => finite(Date.now()),
    'new Date()': () => finite(new Date().getTime()),
    'Math.random()': () => finite(Math.random()),
    // Evaluators: they run in the Compartment, whose global is its own.
    'indirect eval global': () => hostPowersOf((0, eval)('this')),
    'direct eval global': () => hostPowersOf((0, eval)(`${evalWord}('globalThis')`)),
    'Function("return this")()': () => hostPowersOf(Function('return this')()),
    'nested Compartment global': () => hostPowersOf(new Compartment().globalThis),
    'nested Compartment evaluate': () => hostPowersOf(new Compartment().evaluate('globalThis')),
    // Function constructors reached through the prototype chains of endowments.
    'console.log.constructor': () => fromBody(console.log.constructor),
    'assert.constructor': () => fromBody(assert.constructor),
    'VatData.defineKind.constructor': () => fromBody(VatData.defineKind.constructor),
    'vatPowers.exitVat.constructor': () => fromBody(vatPowers.exitVat.constructor),
    'globalThis.constructor.constructor': () => fromBody(globalThis.constructor.constructor),
    // A host class the Compartment shares (frozen, like every intrinsic).
    'TextEncoder.prototype.encode.constructor': () => fromBody(TextEncoder.prototype.encode.constructor),
    'Reflect.construct(Function)': () => Reflect.construct(Function, ['return typeof process === "undefined" ? undefined : process'])(),
    'AsyncFunction constructor': async () => {
      const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
      return AsyncFunction('return typeof process === "undefined" ? undefined : process')();
    },
    'GeneratorFunction constructor': () => {
      const GeneratorFunction = Object.getPrototypeOf(function* generator() {}).constructor;
      return GeneratorFunction('yield typeof process === "undefined" ? undefined : process')().next().value;
    },
    'AsyncGeneratorFunction constructor': async () => {
      const AsyncGeneratorFunction = Object.getPrototypeOf(async function* generator() {}).constructor;
      return (await AsyncGeneratorFunction('yield typeof process === "undefined" ? undefined : process')().next()).value;
    },
    // Module loading from inside: dynamic import, through each evaluator.
    'dynamic import of node:fs in eval': async () => writeWith(await (0, eval)(`${importWord}("node:fs")`)),
    'dynamic import of node:fs in Function': async () => writeWith(await Function(`return ${importWord}("node:fs")`)()),
    'nested Compartment importing node:fs': async () => writeWith((await new Compartment().import('node:fs')).namespace),
    // The host's stack: V8 CallSites carry the functions and receivers on it.
    'Error.prepareStackTrace': () => {
      Error.prepareStackTrace = (_error, sites) => sites;
      return callSitePowers(new Error('probe').stack);
    },
    'Error.captureStackTrace': () => {
      const holder = {};
      Error.captureStackTrace(holder);
      return callSitePowers(holder.stack);
    },
    // The intrinsics are shared with the host: changing one would reach into it.
    'Object.prototype pollution': () => {
      Object.prototype.kenConfinementProbe = 'polluted';
      return 'assigned Object.prototype.kenConfinementProbe';
    },
    'Array.prototype.push replacement': () => {
      Array.prototype.push = () => 0;
      return 'replaced Array.prototype.push';
    },
    'JSON.parse replacement': () => {
      JSON.parse = () => ({});
      return 'replaced JSON.parse';
    },
    // What liveslots passes the vat that it did not ask for: a device invoker.
    'vatPowers.D': () => vatPowers.D(Far('notADevice', {})).anything(),
  };
}

export function buildRootObject(vatPowers, parameters) {
  return Far('confinement', {
    /** Runs every attempt; returns name -> "blocked: <why>" or "reached: <what>". */
    async probe() {
      const report = {};
      for (const [name, attempt] of Object.entries(attempts(vatPowers, parameters.marker))) {
        try {
          const reached = await attempt();
          report[name] = reached === undefined ? 'blocked: nothing there' : `reached: ${String(reached)}`;
        } catch (error) {
          report[name] = `blocked: ${error?.name}: ${error?.message}`;
        }
      }
      return harden(report);
    },
    /** A control: the endowments the vat was given are reachable, and work. */
    given() {
      console.log('confinement vat: the console endowment works');
      return harden({
        console: typeof console.log,
        assert: typeof assert,
        VatData: typeof VatData?.makeKindHandle,
        harden: typeof harden,
      });
    },
  });
}
