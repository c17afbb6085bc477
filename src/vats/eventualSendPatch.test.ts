import { readFile } from 'node:fs/promises';
import { E, Far } from '@endo/far';
import { describe, expect, it } from 'vitest';

/**
 * patches/@endo+eventual-send+1.5.0.patch takes `harden` off what never
 * leaves @endo/eventual-send: the Proxy handlers of E(x), E.sendOnly(x) and
 * E.get(x) (frozen instead), the two arrays `handle` carries its arguments
 * in (frozen; what they carry is hardened as before), and the promise each
 * send made only to wait a turn on (one, made once, instead); and, frozen
 * where that hardens them, the method E(x).m is, the arguments list a send
 * copies, and each HandledPromise whose prototype is Promise.prototype. Every vat's E()
 * and HandledPromise run this code. The order and the turns in which sends
 * run must not change: the log below is what the package as published gives.
 */

const source = (file: string) => readFile(new URL(`../../node_modules/@endo/eventual-send/src/${file}`, import.meta.url), 'utf8');

describe('the @endo/eventual-send patch', () => {
  it('is applied', async () => {
    expect(await source('E.js')).toContain('const makeEProxyHandler = (recipient, HandledPromise) =>\n  freeze({');
    const handled = await source('handled-promise.js');
    expect(handled).toContain('const [_p, operation, opArgs, ...dispatchArgs] = freeze(handleArgs);');
    expect(handled).toContain('const fulfilledWithUndefined = freeze(Promise.resolve(undefined));');
    expect(handled).toContain('? freeze(constructed)');
    expect(handled).toContain('resolve(hardenResult(trackedDoDispatch(handlerName, handler, o)));');
    expect(await source('E.js')).toContain('const freshMethod = method => freeze(method);');
  });

  it('hardens what a handler answers with, a frozen promise with a property of its own too', async () => {
    const extra = { not: ['hardened yet'] };
    const odd = Object.freeze(Object.assign(Promise.resolve('odd'), { extra }));
    const own = new HandledPromise<unknown>((resolve) => resolve('own'));
    const answers = [odd, own, { plain: ['answer'] }];
    const handler = { applyMethod: () => answers.shift() };
    const presence = new HandledPromise<unknown>((_resolve, _reject, resolveWithPresence) => {
      resolveWithPresence(handler);
    });
    expect(await HandledPromise.applyMethod(presence, 'm', [])).toBe('odd');
    expect(Object.isFrozen(extra) && Object.isFrozen(extra.not)).toBe(true);
    expect(await HandledPromise.applyMethod(presence, 'm', [])).toBe('own');
    const plain = (await HandledPromise.applyMethod(presence, 'm', [])) as { plain: string[] };
    expect(Object.isFrozen(plain) && Object.isFrozen(plain.plain)).toBe(true);
  });

  it('resolves to hardened promises: for a value, a presence, and a promise with a property of its own', async () => {
    const forValue = HandledPromise.resolve(harden({ v: 1 }));
    expect(Object.isFrozen(forValue)).toBe(true);
    expect(await forValue).toEqual({ v: 1 });
    const presence = new HandledPromise<unknown>((_resolve, _reject, resolveWithPresence) => {
      resolveWithPresence({});
    });
    expect(Object.isFrozen(HandledPromise.resolve(presence))).toBe(true);
    const extra = { not: ['hardened yet'] };
    const odd = Object.assign(Promise.resolve(2), { extra });
    expect(await HandledPromise.resolve(odd)).toBe(2);
    expect(Object.isFrozen(odd) && Object.isFrozen(extra) && Object.isFrozen(extra.not)).toBe(true);
  });

  it('hardens the promise of a subclass of HandledPromise, its prototype with it', () => {
    class Later extends HandledPromise<unknown> {}
    const later = new Later(() => {});
    expect(Object.isFrozen(later)).toBe(true);
    expect(Object.isFrozen(Later.prototype)).toBe(true);
    // HandledPromise's own promises have no prototype of their own to harden: Promise.prototype is an intrinsic.
    expect(Object.getPrototypeOf(new HandledPromise(() => {}))).toBe(Promise.prototype);
  });

  it('hardens what a handler gets, as before: the arguments array and its contents, a plain target', async () => {
    const seen: unknown[][] = [];
    const target = { not: ['hardened yet'] };
    const handler = {
      applyMethod(o: unknown, prop: unknown, args: unknown[], returnedP: unknown) {
        seen.push([o, prop, args, returnedP]);
        return 'answered';
      },
    };
    const presence = new HandledPromise<unknown>((_resolve, _reject, resolveWithPresence) => {
      resolveWithPresence(handler);
    });
    const argument = { list: [1, { deep: true }] };
    const viaPresence = HandledPromise.applyMethod(presence, 'm', [argument]);
    expect(Object.isFrozen(viaPresence)).toBe(true);
    expect(await viaPresence).toBe('answered');
    const [_o, prop, args, returnedP] = seen[0]!;
    expect(prop).toBe('m');
    expect(Object.isFrozen(args)).toBe(true);
    expect(Object.isFrozen(argument) && Object.isFrozen(argument.list) && Object.isFrozen(argument.list[1])).toBe(true);
    // The send hardened its target (here the presence's promise); the presence object a handler gets is its maker's to harden.
    expect(Object.isFrozen(presence)).toBe(true);
    expect(returnedP).toBe(viaPresence);
    // An argument of a send to a local object is hardened by the send, as before.
    await E(Far('local', { m: (_x: unknown) => 1 })).m(target);
    expect(Object.isFrozen(target) && Object.isFrozen(target.not)).toBe(true);
  });

  it('hands out hardened methods and promises from E(), E.sendOnly() and E.get()', async () => {
    const local = Far('local', { m: (x: number) => ({ twice: [x, x] }) });
    const proxy = E(local);
    expect(Object.isFrozen(proxy.m)).toBe(true);
    const result = proxy.m(2);
    expect(Object.isFrozen(result)).toBe(true);
    const value = await result;
    expect(value).toEqual({ twice: [2, 2] });
    expect(Object.isFrozen(value) && Object.isFrozen(value.twice)).toBe(true);
    expect(Object.isFrozen(E.sendOnly(local).m)).toBe(true);
    const got = E.get(harden({ field: { v: 1 } })).field;
    expect(Object.isFrozen(got)).toBe(true);
    expect(await got).toEqual({ v: 1 });
    // The proxies refuse changes, as before.
    expect(Reflect.set(proxy, 'x', 1)).toBe(false);
    expect(Reflect.deleteProperty(proxy, 'm')).toBe(false);
    expect(Object.isExtensible(proxy)).toBe(false);
  });

  it('runs sends in the same order and turns as the package as published', async () => {
    const log: string[] = [];
    let turn = 0;
    let resolveLater: (value: unknown) => void = () => {};
    const tick = () => {
      if (turn > 500) return;
      turn += 1;
      if (turn === 7) resolveLater(local);
      void Promise.resolve().then(tick);
    };
    void Promise.resolve().then(tick);
    const local = Far('local', {
      m: (x: number) => {
        log.push(`m(${x})@${turn}`);
        return x;
      },
    });
    const p1 = E(local).m(1).then((v) => log.push(`r1=${v}@${turn}`));
    const p2 = E(local).m(2).then((v) => log.push(`r2=${v}@${turn}`));
    E.sendOnly(local).m(3);
    const p3 = E.get(harden({ f: 'field' })).f.then((v) => log.push(`get=${v}@${turn}`));
    const p4 = E(Promise.resolve(local)).m(4).then((v) => log.push(`r4=${v}@${turn}`));
    const later = new HandledPromise((resolve) => {
      resolveLater = resolve;
    });
    const p5 = E(later as unknown as typeof local).m(5).then((v) => log.push(`r5=${v}@${turn}`));
    const bad = (E(local) as unknown as { nonesuch: () => Promise<unknown> })
      .nonesuch()
      .catch((error: Error) => log.push(`bad:${error.message}@${turn}`));
    await Promise.all([p1, p2, p3, p4, p5, bad]);
    turn = 1000;
    expect(log).toEqual([
      'm(1)@1',
      'm(2)@1',
      'm(3)@1',
      'm(4)@1',
      'r1=1@2',
      'r2=2@2',
      'get=field@2',
      'r4=4@2',
      'bad:target has no method "nonesuch", has ["__getMethodNames__","m"]@2',
      'm(5)@8',
      'r5=5@11',
    ]);
  });
});
