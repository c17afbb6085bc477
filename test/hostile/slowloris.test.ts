import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Libp2pTransport } from '../../src/net/libp2pTransport.js';
import { defaultMaxPendingInboundPerAddress } from '../../src/net/limits.js';
import type { KenNode } from '../../src/node/node.js';
import { exampleVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

/**
 * Slowloris on loopback: raw TCP sockets that connect to a node and never
 * send a byte of the handshake. With libp2p's defaults (10 pending inbound
 * connections, a 10 s upgrade timeout) ten of them kept every new peer out;
 * with ken-node's limits an honest peer gets in while they hold on.
 */

const dirs = tempDirs();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  dirs.cleanup();
});

/** The issue's demand: a new honest peer is in within this, however long the attack lasts. */
const honestWithinMs = 5_000;
/** How long a closed attacking socket waits before it is opened again: pressure kept on without spinning the CPU. */
const reopenDelayMs = 250;
/** No attack lasts longer than this, whatever the test does. */
const attackMaxMs = 60_000;

/**
 * Stalled sockets: each connects and sends nothing. One the node closes
 * (refused, or timed out in its upgrade) is opened again from the same
 * address after {@link reopenDelayMs}, while the re-open budget and
 * {@link attackMaxMs} last.
 */
class StalledSockets {
  readonly #sockets = new Set<net.Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #deadline = Date.now() + attackMaxMs;
  #reopensLeft: number;
  #stopped = false;
  /** Sockets the node closed. */
  closed = 0;

  constructor(
    private readonly port: number,
    reopenBudget: number,
  ) {
    this.#reopensLeft = reopenBudget;
  }

  open(localAddress: string): void {
    const socket = net.connect({ host: '127.0.0.1', port: this.port, localAddress });
    this.#sockets.add(socket);
    // A refused socket is reset: expected, and not this test's concern.
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (this.#stopped) return;
      this.closed += 1;
      if (this.#reopensLeft <= 0 || Date.now() >= this.#deadline) return;
      this.#reopensLeft -= 1;
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        if (!this.#stopped) this.open(localAddress);
      }, reopenDelayMs);
      this.#timers.add(timer);
    });
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }
}

async function startVictim() {
  const victim = await startNode({ dir: dirs.make('ken-victim-'), transport: { kind: 'libp2p', listen: ['/ip4/127.0.0.1/tcp/0'] } });
  cleanups.push(() => victim.node.stop());
  await victim.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
  const url = await victim.node.issueUrl(victim.node.kernel.rootOf('recorder'));
  const port = Number(/\/tcp\/(\d+)/.exec(victim.node.transport.addresses()[0] ?? '')?.[1]);
  return { ...victim, transport: victim.node.transport as Libp2pTransport, url, port };
}

function attack(port: number, reopenBudget: number): StalledSockets {
  const sockets = new StalledSockets(port, reopenBudget);
  cleanups.push(() => sockets.stop());
  return sockets;
}

/** Rejects if `work` has not settled within `ms`. */
async function within<T>(ms: number, what: string, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work(), timeUp]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts an honest node on 127.0.0.1 that redeems `url`: a session (hello, redeem, answer) with the victim. */
async function honestPeerRedeems(url: string): Promise<KenNode> {
  const honest = await startNode({ dir: dirs.make('ken-honest-'), transport: { kind: 'libp2p', listen: ['/ip4/127.0.0.1/tcp/0'] } });
  cleanups.push(() => honest.node.stop());
  await honest.node.redeemUrl(url);
  return honest.node;
}

describe('stalled sockets (slowloris)', () => {
  it('from 100 addresses do not keep an honest new peer out', async () => {
    const victim = await startVictim();
    const sockets = attack(victim.port, 1_000);
    const addresses = Array.from({ length: 100 }, (_, index) => `127.0.0.${index + 2}`);
    for (const address of addresses) sockets.open(address);
    const pending = () => addresses.reduce((sum, address) => sum + victim.transport.pendingInboundFrom(address), 0);
    // The attack is on: every stalled socket holds a pending slot (with libp2p's default, 10 would, and the rest be refused).
    // Those the node times out come back after reopenDelayMs, so the pressure stays on while the honest peer connects.
    await eventually('100 stalled sockets pending at the node', () => pending() === 100);

    const honest = await within(honestWithinMs, 'an honest peer redeeming the victim\'s URL', () => honestPeerRedeems(victim.url));
    expect(victim.node.store.peers.get(honest.peerId)).toBeDefined();
  }, 120_000);

  it('from one address are capped at the per-address limit, and an honest peer from another gets in', async () => {
    const victim = await startVictim();
    const attacker = '127.0.0.2';
    const sockets = attack(victim.port, 8_000);
    for (let index = 0; index < 200; index += 1) sockets.open(attacker);
    // Sampled every 20 ms while the attack lasts: the most the node had pending from the attacker.
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, victim.transport.pendingInboundFrom(attacker))), 20);
    cleanups.push(() => clearInterval(sampler));
    await eventually('the attacker to fill its share', () => victim.transport.pendingInboundFrom(attacker) >= defaultMaxPendingInboundPerAddress);

    const honest = await within(honestWithinMs, 'an honest peer redeeming the victim\'s URL', () => honestPeerRedeems(victim.url));
    expect(victim.node.store.peers.get(honest.peerId)).toBeDefined();
    clearInterval(sampler);
    expect(most).toBe(defaultMaxPendingInboundPerAddress);
    // The rest were closed by the node, not left waiting; and the refusals were logged, but not once per socket.
    expect(sockets.closed).toBeGreaterThanOrEqual(200 - defaultMaxPendingInboundPerAddress);
    const refusals = victim.logger.entries.filter(
      (entry) => entry.message === `refused a connection: ${attacker} has ${defaultMaxPendingInboundPerAddress} not yet upgraded`,
    );
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.length).toBeLessThan(10);
  }, 120_000);
});
