/**
 * What libp2p expects of the platform, installed before SES lockdown
 * freezes the globals. Node 20 lacks `Promise.withResolvers` and a global
 * `WebSocket`; Node 22 has both, and then this module changes nothing.
 * Import it first, before `@endo/init`.
 */
import { WebSocket } from 'ws';

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

if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'undefined') {
  Object.defineProperty(globalThis, 'WebSocket', { value: WebSocket, writable: true, configurable: true });
}
