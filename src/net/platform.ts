/**
 * What libp2p expects of the platform, installed before SES lockdown
 * freezes the globals. Node 20 lacks `Promise.withResolvers` and a global
 * `WebSocket`; Node 22 has both, and then this module changes nothing.
 * Import it first, before `@endo/init`.
 */
import { WebSocket } from 'ws';
// What vat loading expects: a native base64 decoder for bundles (see there).
import '../util/fromBase64.js';

interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  // A method (not a `function`) so it has no `prototype` for lockdown to complain about.
  const polyfill = {
    withResolvers<T>(this: PromiseConstructor): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve'];
      let reject!: Resolvers<T>['reject'];
      const promise = new this<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  };
  Object.defineProperty(Promise, 'withResolvers', {
    value: polyfill.withResolvers,
    writable: true,
    configurable: true,
  });
}

/**
 * `ws` behind the browser WebSocket API. A browser WebSocket never throws
 * from an `error` event; a `ws` one is an EventEmitter and crashes the
 * process when it emits `error` with no listener (as when libp2p closes a
 * socket whose dial failed). Errors still reach libp2p's own listeners.
 */
class BrowserLikeWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    this.on('error', () => {});
  }
}

if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'undefined') {
  Object.defineProperty(globalThis, 'WebSocket', { value: BrowserLikeWebSocket, writable: true, configurable: true });
}
