import { createHash } from 'node:crypto';
import { copyFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { checkRun, type Discarded, type Entry, type NodeEnd, type PartyReport, type Violation } from '../fault/checker.js';
import { isDrained, nodeEndOf } from '../fault/nodeEnd.js';
import { CrashPoints, crashPointNames, type CrashArming, type CrashPointName } from '../fault/crashPoints.js';
import type { Sabotage } from '../fault/sabotage.js';
import { FaultyTransport, noFaults, type FaultEvent, type FaultRates } from '../net/faultyTransport.js';
import { MemoryNetwork } from '../net/memoryTransport.js';
import { KenNode } from '../node/node.js';
import { defaultSessionOptions } from '../remote/session.js';
import { backUpStore } from '../store/backup.js';
import { openStore } from '../store/index.js';
import { seededEntropy, seededRandom } from '../util/random.js';
import { bundleVat, exampleVatPath, type VatBundle } from '../vats/bundles.js';
import type { VatRuntime } from '../vats/vatInstance.js';
import { Scheduler } from './scheduler.js';
import { silentLogger } from '../util/logger.js';

export interface SimulationOptions {
  seed: number;
  /** Nodes in the cluster (2 or more), each with one party vat. */
  nodes: number;
  /** Messages the driver asks the parties to send, over all pairs. */
  messages: number;
  /** An empty directory for the nodes' SQLite files. */
  dir: string;
  /** Network fault rates; drawn from the seed when absent. */
  rates?: FaultRates;
  /** Partitions, kills, armed crash points and store faults (rollback, amnesia) drawn from the seed (default true). */
  chaos?: boolean;
  /** A scripted crash: node `node` (0-based) dies at `arming`, counted from the start of the workload. */
  crash?: { node: number; arming: CrashArming };
  /** Test-only: a deliberate bug the checker must catch. */
  sabotage?: Sabotage;
  /** Only n1 sends, only to n2 (n2 still sends results back): a clear sender and receiver. */
  oneWay?: boolean;
  /** The party vats' runtime (default liveslots). */
  runtime?: VatRuntime;
  /** The parties send with E.sendOnly (no results) instead of E() (default false). */
  sendOnly?: boolean;
}

export interface SimulationResult {
  seed: number;
  violations: Violation[];
  /** One line per event, in order: the same seed gives the same lines. */
  history: string[];
  /** sha256 of the history, to compare replays. */
  digest: string;
  counts: {
    /** Messages the parties' committed records say were sent. */
    messages: number;
    faults: Record<FaultEvent['kind'], number>;
    kills: number;
    /** Crashes at each armed point that fired. */
    crashes: Partial<Record<CrashPointName, number>>;
    restarts: number;
    /** Stores put back to an older copy: under their incarnation (`rollback`), or marked as `ken-node restore` marks them (`amnesia`: a new incarnation). */
    storeFaults: Record<StoreFault, number>;
    /** Upgrades of a party whose answer came: to its own code again (`done`), or to code that cannot start, refused with the previous version running on (`refused`). */
    upgrades: { done: number; refused: number };
    /** Wake-ups of later sends that came (each must come once: the checker counts them per tag). */
    wakeUps: number;
  };
  /** Virtual milliseconds from the heal until every outbox was empty (undefined: never). */
  drainedAfterMs: number | undefined;
  virtualMs: number;
}

/** Virtual milliseconds a frame takes between two nodes; fixed, so a link never reorders by itself. */
const latencyMs = 1;
/** The workload's requests arrive within this many virtual milliseconds. */
const workloadMs = 3_000;
/** After the heal, every outbox must be empty within this many virtual milliseconds (G5). */
export const drainLimitMs = 120_000;
/** Events a run may take; a protocol that storms (resends that never end) stops here, undrained. */
export const maxEvents = 50_000;
/** Turns of the event loop a simulation waits for its nodes to go idle, before it calls the run stuck. */
const settleTurns = 200_000;

/** Thrown at an armed crash point inside a simulated node, after the node is already dead. */
export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
}

interface SimNode {
  readonly name: string;
  readonly storePath: string;
  /** Changes on every start, so a dead incarnation's timers can be told from the live one's. */
  generation: number;
  node: KenNode | undefined;
  faulty: FaultyTransport | undefined;
  crashPoints: CrashPoints | undefined;
}

type Draw = () => number;

/** A node's store put back to its last backup: as it was (`rollback`), or as a new incarnation (`amnesia`, what `ken-node restore` does). */
export type StoreFault = 'rollback' | 'amnesia';

/**
 * A whole cluster in one process: nodes on the in-memory transport under
 * the fault wrapper, a virtual clock, and crashes that throw away everything
 * not committed and reopen the node from its SQLite file. One seed fixes
 * the workload, the faults, and so the whole history.
 */
export class Simulation {
  readonly #options: SimulationOptions;
  readonly #random: Draw;
  readonly #scheduler = new Scheduler();
  readonly #network: MemoryNetwork;
  readonly #nodes: SimNode[];
  readonly #history: string[] = [];
  readonly #entropy;
  readonly #pending = new Set<Promise<unknown>>();
  /** Directed partitions in force, `from->to`; a restarted node gets them again. */
  readonly #partitions = new Set<string>();
  readonly #counts: SimulationResult['counts'] = {
    messages: 0,
    faults: { drop: 0, duplicate: 0, delay: 0, reset: 0, partition: 0, heal: 0, blocked: 0 },
    kills: 0,
    crashes: {},
    restarts: 0,
    storeFaults: { rollback: 0, amnesia: 0 },
    upgrades: { done: 0, refused: 0 },
    wakeUps: 0,
  };
  /** The parties' code, and code that cannot be a party's next version (it defines none of its durable kinds): set up by #setUp. */
  #partyBundle: VatBundle | undefined;
  #brokenBundle: VatBundle | undefined;
  /** Each node's latest backup (a copy of its store, taken while it ran). */
  readonly #backups = new Map<SimNode, string>();
  /** A party's report just before its store was put back: what it held then, for the checker's {@link Discarded}. */
  readonly #reportsBeforeStoreFaults: PartyReport[] = [];
  /** Frames each node refused as bad in its earlier lives (its stats go with it at a kill): every peer here is honest, so any is a bug. */
  readonly #badFramesBefore = new Map<string, number>();
  #rates: FaultRates;
  #healed = false;

  constructor(options: SimulationOptions) {
    if (!Number.isSafeInteger(options.nodes) || options.nodes < 2) throw new RangeError(`a simulation needs 2 or more nodes, got ${options.nodes}`);
    if (!Number.isSafeInteger(options.messages) || options.messages < 1) throw new RangeError(`messages must be a positive integer, got ${options.messages}`);
    this.#options = options;
    this.#random = seededRandom(options.seed);
    this.#entropy = seededEntropy(seededRandom(options.seed ^ 0x5eed));
    this.#rates = options.rates ?? this.#drawRates();
    this.#network = new MemoryNetwork((_from, _to, arrive) => this.#scheduler.after(latencyMs, 'network', arrive));
    this.#network.onSend = ({ from, to, frame }) => this.#note(`frame ${from}->${to} ${describeFrame(frame)}`);
    this.#nodes = Array.from({ length: options.nodes }, (_, index) => ({
      name: `n${index + 1}`,
      storePath: path.join(options.dir, `n${index + 1}.sqlite`),
      generation: 0,
      node: undefined,
      faulty: undefined,
      crashPoints: undefined,
    }));
  }

  async run(): Promise<SimulationResult> {
    const workload = `runtime=${this.#options.runtime ?? 'liveslots'}${this.#options.sendOnly === true ? ' send-only' : ''}`;
    this.#note(`seed ${this.#options.seed} nodes=${this.#nodes.length} ${workload} rates=${JSON.stringify(this.#rates)}`);
    try {
      await this.#setUp();
      const healAt = this.#plan();
      let drainedAt: number | undefined;
      let events = 0;
      for (; events < maxEvents; events += 1) {
        await this.#settle();
        if (this.#healed && this.#drained()) {
          drainedAt = this.#scheduler.now;
          break;
        }
        const next = this.#scheduler.peekTime();
        if (next === undefined || next > healAt + drainLimitMs) break;
        // Frames due together arrive together, with no crank between them (as over TCP: frameCodec.ts).
        this.#scheduler.runNext('network');
      }
      this.#note(drainedAt === undefined ? `not drained after ${events} events` : `drained after ${events} events`);
      const violations = await this.#check();
      const digest = createHash('sha256').update(this.#history.join('\n')).digest('hex');
      return {
        seed: this.#options.seed,
        violations,
        history: this.#history,
        digest,
        counts: this.#counts,
        drainedAfterMs: drainedAt === undefined ? undefined : drainedAt - healAt,
        virtualMs: this.#scheduler.now,
      };
    } finally {
      for (const sim of this.#nodes) this.#kill(sim, undefined);
    }
  }

  #drawRates(): FaultRates {
    const pick = <T>(choices: readonly T[]): T => choices[Math.floor(this.#random() * choices.length)] as T;
    return {
      drop: pick([0, 0.02, 0.05, 0.1]),
      duplicate: pick([0, 0.02, 0.05]),
      delay: pick([0, 0.05, 0.1]),
      maxDelayMs: 30,
      reset: pick([0, 0.01, 0.03]),
    };
  }

  /** Starts the nodes, creates a party on each, and introduces every party to every other, with no faults yet. */
  async #setUp(): Promise<void> {
    const bundle = await exampleBundle('party');
    this.#partyBundle = bundle;
    this.#brokenBundle = await exampleBundle('recorder');
    const rates = this.#rates;
    this.#rates = noFaults;
    for (const sim of this.#nodes) {
      await this.#start(sim);
      const node = this.#live(sim);
      await node.kernel.createVat({ name: 'party', bundle, parameters: { name: sim.name, timer: node.services.timer }, runtime: this.#options.runtime ?? 'liveslots' });
    }
    for (const sim of this.#nodes) {
      const node = this.#live(sim);
      const url = await node.issueUrl(node.kernel.rootOf('party'));
      for (const other of this.#nodes) {
        if (other === sim) continue;
        const peer = this.#live(other);
        const presence = await this.#await(peer.redeemUrl(url));
        await this.#await(peer.kernel.call(peer.kernel.rootOf('party'), 'addPeer', [sim.name, presence]));
      }
    }
    this.#rates = rates;
    for (const sim of this.#nodes) sim.faulty?.setRates(rates);
    this.#note('set up');
  }

  /** Awaits `promise` while moving virtual time, as the node needs frames to arrive for it to settle. */
  async #await<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    const watched = promise.finally(() => {
      settled = true;
    });
    for (let events = 0; !settled; events += 1) {
      await this.#settle();
      if (settled) break;
      if (events > 100_000 || !this.#scheduler.runNext()) throw new Error('simulation set-up is stuck');
    }
    return watched;
  }

  /** Schedules the workload and the faults; returns when the heal happens. */
  #plan(): number {
    const random = this.#random;
    const count = this.#nodes.length;
    const at = () => Math.floor(random() * workloadMs);
    const other = (index: number) => (index + 1 + Math.floor(random() * (count - 1))) % count;
    let requested = 0;
    for (let batch = 1; requested < this.#options.messages; batch += 1) {
      const size = Math.min(1 + Math.floor(random() * 4), this.#options.messages - requested);
      requested += size;
      const from = this.#options.oneWay === true ? 0 : Math.floor(random() * count);
      const to = this.#options.oneWay === true ? 1 : other(from);
      // A quarter of the batches are sent later, when the timer service wakes the party (within a second of virtual time).
      const laterMs = random() < 0.25 ? Math.floor(random() * 1_000) : undefined;
      this.#at(at(), () => this.#request(this.#nodes[from] as SimNode, this.#nodes[to] as SimNode, size, `b${batch}`, laterMs));
    }
    if (this.#options.chaos ?? true) {
      for (let partitions = Math.floor(random() * 3); partitions > 0; partitions -= 1) {
        const a = Math.floor(random() * count);
        const b = other(a);
        const oneWay = random() < 0.5;
        const start = at();
        const length = 100 + Math.floor(random() * 1400);
        this.#at(start, () => this.#partition(a, b, oneWay));
        this.#at(start + length, () => this.#heal(a, b));
      }
      for (let crashes = Math.floor(random() * 3); crashes > 0; crashes -= 1) {
        const index = Math.floor(random() * count);
        const arming = { point: crashPointNames[Math.floor(random() * crashPointNames.length)] as CrashPointName, occurrence: 1 + Math.floor(random() * 5) };
        this.#at(at(), () => this.#arm(this.#nodes[index] as SimNode, arming));
      }
      for (let kills = Math.floor(random() * 2); kills > 0; kills -= 1) {
        const index = Math.floor(random() * count);
        this.#at(at(), () => this.#killNow(this.#nodes[index] as SimNode));
      }
      // A third of the seeds upgrade a party (each upgrade starts the vat afresh: the costliest step here).
      if (random() < 0.35) {
        const sim = this.#nodes[Math.floor(random() * count)] as SimNode;
        const broken = random() < 0.25;
        this.#at(at(), () => this.#upgrade(sim, broken));
      }
      if (random() < 0.3) {
        const sim = this.#nodes[Math.floor(random() * count)] as SimNode;
        const fault: StoreFault = random() < 0.5 ? 'rollback' : 'amnesia';
        const backupAt = Math.floor(random() * (workloadMs / 2));
        const faultAt = backupAt + 200 + Math.floor(random() * (workloadMs / 2 - 200));
        // Not with send-only traffic: a pair that starts over drops what its outbox held, and a
        // send-only message has no result to reject, so the parties' records (all the checker
        // reads) cannot tell such a drop, which the node logs, from a loss (docs/testing.md).
        if (this.#options.sendOnly !== true) {
          this.#at(backupAt, () => this.#backUp(sim));
          this.#at(faultAt, () => this.#putBack(sim, fault));
        }
      }
    }
    const scripted = this.#options.crash;
    if (scripted !== undefined) {
      const sim = this.#nodes[scripted.node];
      if (sim === undefined) throw new RangeError(`crash.node ${scripted.node} is not a node of this simulation`);
      this.#at(0, () => this.#arm(sim, scripted.arming));
    }
    const healAt = workloadMs + 500;
    this.#at(healAt, () => this.#healAll());
    return healAt;
  }

  #at(time: number, run: () => void): void {
    this.#scheduler.after(time - this.#scheduler.now, 'driver', run);
  }

  /**
   * A driver's request: lost if the node is down, or if it crashes before
   * the crank that takes it commits. With `laterMs`, the party sends when
   * the timer wakes it, that long after.
   */
  #request(from: SimNode, to: SimNode, size: number, tag: string, laterMs: number | undefined): void {
    const node = from.node;
    const when = laterMs === undefined ? '' : ` later=${laterMs}`;
    this.#note(`${from.name} send ${to.name} count=${size} tag=${tag}${when}${node === undefined ? ' (node down: lost)' : ''}`);
    if (node === undefined) return;
    const sendOnly = this.#options.sendOnly === true;
    const [method, args] = laterMs === undefined ? [sendOnly ? 'sendOnly' : 'send', [to.name, size, tag]] : ['sendLater', [to.name, size, tag, laterMs, sendOnly]];
    void node.kernel.queueToKref(node.kernel.rootOf('party'), method, args).catch(() => {});
    this.#runKernel(node);
  }

  /**
   * Upgrades a node's party: to its own code again (its state kept, its
   * durable kinds defined again), or to code that cannot start, which must
   * leave the previous version running. Lost if the node is down, or dies
   * before the crank that carries it out commits. Not tracked: a node
   * killed meanwhile never answers (its waiter dies with it).
   */
  #upgrade(sim: SimNode, broken: boolean): void {
    const node = sim.node;
    this.#note(`${sim.name} upgrade party${broken ? ' to code that cannot start' : ''}${node === undefined ? ' (node down: lost)' : ''}`);
    if (node === undefined || this.#partyBundle === undefined || this.#brokenBundle === undefined) return;
    node.kernel.upgradeVat('party', broken ? this.#brokenBundle : this.#partyBundle).then(
      () => {
        this.#counts.upgrades.done += 1;
        this.#note(`${sim.name} upgraded party`);
      },
      (error: unknown) => {
        if (sim.node !== node) return; // it died meanwhile
        this.#counts.upgrades.refused += 1;
        this.#note(`${sim.name} upgrade refused: ${error instanceof Error ? error.message.slice(0, 80) : String(error)}`);
      },
    );
  }

  #runKernel(node: KenNode): void {
    node.kernel.run().catch(() => {}); // a crash ends the loop; the node is reopened from its store
  }

  #partition(a: number, b: number, oneWay: boolean): void {
    const from = this.#nodes[a] as SimNode;
    const to = this.#nodes[b] as SimNode;
    this.#partitions.add(`${from.name}->${to.name}`);
    if (!oneWay) this.#partitions.add(`${to.name}->${from.name}`);
    this.#note(`partition ${from.name}->${to.name}${oneWay ? ' one-way' : ' both ways'}`);
    this.#applyPartitions(from);
    this.#applyPartitions(to);
  }

  #heal(a: number, b: number): void {
    const one = this.#nodes[a] as SimNode;
    const two = this.#nodes[b] as SimNode;
    this.#partitions.delete(`${one.name}->${two.name}`);
    this.#partitions.delete(`${two.name}->${one.name}`);
    this.#note(`heal ${one.name}-${two.name}`);
    this.#applyPartitions(one);
    this.#applyPartitions(two);
  }

  /** Makes a node's fault wrapper match the partition table: what it may not send, and what it may not hear. */
  #applyPartitions(sim: SimNode): void {
    const faulty = sim.faulty;
    if (faulty === undefined) return;
    faulty.heal();
    for (const other of this.#nodes) {
      const outbound = this.#partitions.has(`${sim.name}->${other.name}`);
      const inbound = this.#partitions.has(`${other.name}->${sim.name}`);
      if (outbound && inbound) faulty.partition(other.name, 'both');
      else if (outbound) faulty.partition(other.name, 'outbound');
      else if (inbound) faulty.partition(other.name, 'inbound');
    }
  }

  #arm(sim: SimNode, arming: CrashArming): void {
    if (this.#healed || sim.crashPoints === undefined) return;
    this.#note(`${sim.name} arm ${arming.point}:${arming.occurrence}`);
    sim.crashPoints.arm(arming);
  }

  #backUp(sim: SimNode): void {
    if (this.#healed || sim.node === undefined) return;
    const file = `${sim.storePath}.backup`;
    rmSync(file, { force: true });
    backUpStore(sim.storePath, file);
    this.#backups.set(sim, file);
    this.#note(`${sim.name} backup`);
  }

  /**
   * Puts a node's store back to its last backup: the node dies, the copy
   * takes the store's place (marked as `ken-node restore` marks it, for
   * amnesia), and the node restarts from it. Its party's report from just
   * before says what the run threw away.
   */
  #putBack(sim: SimNode, fault: StoreFault): void {
    const node = sim.node;
    const backup = this.#backups.get(sim);
    if (this.#healed || node === undefined || backup === undefined) return;
    this.#track(
      node.kernel.call(node.kernel.rootOf('party'), 'report').then((report) => {
        // At once, as the COMMIT that holds the report returns: nothing the
        // node commits after it may go with the store without the checker knowing.
        if (this.#healed || sim.node !== node) return;
        this.#reportsBeforeStoreFaults.push(report as PartyReport);
        this.#counts.storeFaults[fault] += 1;
        this.#kill(sim, fault === 'rollback' ? 'rollback to its backup' : 'amnesia: restored from its backup as a new incarnation');
        for (const file of [`${sim.storePath}-wal`, `${sim.storePath}-shm`]) rmSync(file, { force: true });
        copyFileSync(backup, sim.storePath);
        if (fault === 'amnesia') {
          const store = openStore({ path: sim.storePath, durability: 'process' });
          store.meta.markRestored('the simulation\'s backup');
          store.close();
        }
      }),
    );
  }

  #killNow(sim: SimNode): void {
    if (this.#healed || sim.node === undefined) return;
    this.#counts.kills += 1;
    this.#kill(sim, 'kill');
  }

  /** The end of the faults: no more loss, partitions or crashes; every node up. */
  #healAll(): void {
    this.#healed = true;
    this.#rates = noFaults;
    this.#partitions.clear();
    this.#note('heal all');
    for (const sim of this.#nodes) {
      sim.crashPoints?.arm(undefined);
      sim.faulty?.setRates(noFaults);
      this.#applyPartitions(sim);
    }
  }

  async #start(sim: SimNode): Promise<void> {
    sim.generation += 1;
    const owner = `${sim.name}#${sim.generation}`;
    const clock = this.#scheduler.clockFor(owner);
    const faulty = new FaultyTransport(this.#network.transport(sim.name), {
      random: this.#random,
      clock,
      rates: this.#rates,
      onFault: (event) => {
        this.#counts.faults[event.kind] += 1;
        this.#note(`fault ${event.kind} ${event.from}->${event.to}${event.frames === undefined ? '' : ` frames=${event.frames}`}`);
      },
    });
    const crashPoints = new CrashPoints(undefined, (point) => {
      this.#counts.crashes[point] = (this.#counts.crashes[point] ?? 0) + 1;
      this.#kill(sim, `crash at ${point}`);
      throw new SimulatedCrash(`${sim.name} crashed at ${point}`);
    });
    sim.faulty = faulty;
    sim.crashPoints = crashPoints;
    this.#applyPartitions(sim);
    sim.node = await KenNode.start({
      storePath: sim.storePath,
      durability: 'process',
      logger: silentLogger,
      transport: { kind: 'given', transport: faulty },
      clock,
      // No bringOutYourDead: when the engine's GC finalizes objects is not
      // up to the seed, and a replay must make the same syscalls.
      reapInterval: Number.MAX_SAFE_INTEGER,
      crashPoints,
      entropy: this.#entropy,
      sabotage: this.#options.sabotage,
      // The checker counts every committed send as owed: none may be refused for a full outbox.
      session: { maxUnackedPerPeer: Math.max(defaultSessionOptions.maxUnackedPerPeer, this.#options.messages + 1_000) },
    });
  }

  /**
   * The node dies as under SIGKILL: its timers and connections go, and its
   * store closes without COMMIT, so everything not committed is lost. A
   * restart comes after a while, unless `reason` is undefined (the end).
   */
  #kill(sim: SimNode, reason: string | undefined): void {
    const node = sim.node;
    if (node === undefined) return;
    sim.node = undefined;
    sim.faulty = undefined;
    sim.crashPoints = undefined;
    this.#scheduler.cancelOwner(`${sim.name}#${sim.generation}`);
    this.#network.remove(sim.name);
    this.#badFramesBefore.set(sim.name, this.#badFramesOf(sim.name, node));
    node.sessions.stop();
    node.store.close();
    if (reason === undefined) return;
    this.#note(`${sim.name} ${reason}`);
    const downtime = 20 + Math.floor(this.#random() * 800);
    this.#scheduler.after(downtime, 'driver', () => {
      this.#note(`${sim.name} restart`);
      this.#counts.restarts += 1;
      this.#track(this.#start(sim).then(() => this.#runKernel(this.#live(sim))));
    });
  }

  #track(promise: Promise<unknown>): void {
    const tracked = promise.catch((error: unknown) => this.#note(`driver error ${String(error)}`)).finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  #live(sim: SimNode): KenNode {
    if (sim.node === undefined) throw new Error(`${sim.name} is down`);
    return sim.node;
  }

  /** Lets the event loop run until no node is working and nothing the driver started is pending. */
  async #settle(): Promise<void> {
    let quiet = 0;
    for (let turn = 0; turn < settleTurns; turn += 1) {
      await new Promise((resolve) => setImmediate(resolve));
      const idle = this.#pending.size === 0 && this.#nodes.every((sim) => sim.node?.kernel.busy !== true);
      quiet = idle ? quiet + 1 : 0;
      // Two idle turns: what the last crank's commit released has run too.
      if (quiet === 2) return;
    }
    throw new Error(`seed ${this.#options.seed}: the nodes did not go idle within ${settleTurns} turns`);
  }

  /** Every node up, every run queue empty, every outbox acked, every wake-up fired. */
  #drained(): boolean {
    return this.#nodes.every(
      (sim) => sim.node !== undefined && isDrained(nodeEndOf(sim.name, sim.node.store), sim.node.kernel.runQueueLength) && sim.node.store.timers.count() === 0,
    );
  }

  async #check(): Promise<Violation[]> {
    const reports: PartyReport[] = [];
    const ends: NodeEnd[] = [];
    for (const sim of this.#nodes) {
      const node = sim.node;
      if (node === undefined) {
        return [{ guarantee: 'G5', from: sim.name, message: `${sim.name} is still down after the heal`, tags: [] }];
      }
      ends.push(nodeEndOf(sim.name, node.store));
      reports.push((await this.#await(node.kernel.call(node.kernel.rootOf('party'), 'report'))) as PartyReport);
    }
    for (const report of reports) {
      for (const entries of Object.values(report.sent)) this.#counts.messages += entries.length;
      for (const wakes of Object.values(report.later)) this.#counts.wakeUps += wakes;
    }
    const refusals: Violation[] = [];
    for (const sim of this.#nodes) {
      const badFrames = this.#badFramesOf(sim.name, this.#live(sim));
      if (badFrames > 0) refusals.push({ guarantee: 'protocol', from: sim.name, message: `${sim.name} refused ${badFrames} frames of honest peers as bad (the history shows the frames)`, tags: [] });
    }
    return [...checkRun(reports, ends, this.#discarded(reports)), ...refusals];
  }

  /** Bad frames the node on `name` refused over all its lives, `node` being the current one. */
  #badFramesOf(name: string, node: KenNode): number {
    return (this.#badFramesBefore.get(name) ?? 0) + node.sessions.stats.badFrames;
  }

  /** What each put-back store held before and its party's records no longer hold: sent or consumed by state the run threw away. */
  #discarded(reports: readonly PartyReport[]): Discarded {
    const discarded: Discarded = {};
    const missing = (before: Record<string, Entry[]>, after: Record<string, Entry[]>, into: Record<string, Entry[]>) => {
      for (const [peer, entries] of Object.entries(before)) {
        const kept = new Set((after[peer] ?? []).map((entry) => `${entry[0]}:${entry[1]}`));
        into[peer] = [...(into[peer] ?? []), ...entries.filter((entry) => !kept.has(`${entry[0]}:${entry[1]}`))];
      }
    };
    for (const before of this.#reportsBeforeStoreFaults) {
      const after = reports.find((report) => report.name === before.name);
      if (after === undefined) continue;
      const into = (discarded[before.name] ??= { sent: {}, received: {} });
      missing(before.sent, after.sent, into.sent);
      missing(before.received, after.received, into.received);
    }
    return discarded;
  }

  #note(text: string): void {
    this.#history.push(`t=${this.#scheduler.now} ${text}`);
  }
}

/**
 * The bundles of the example vats a simulation runs, made once per process:
 * a sweep runs hundreds of simulations, and checking the bundle cache reads
 * and hashes every file the bundler read (tens of milliseconds, mostly
 * waiting for the disk). The sources do not change under a sweep.
 */
const exampleBundles = new Map<string, Promise<VatBundle>>();
function exampleBundle(name: string): Promise<VatBundle> {
  let bundle = exampleBundles.get(name);
  if (bundle === undefined) {
    bundle = bundleVat(exampleVatPath(name));
    exampleBundles.set(name, bundle);
  }
  return bundle;
}

/** A frame in a history line: its type, sequence numbers, and the tag it carries, with a digest of its bytes. */
function describeFrame(bytes: Uint8Array): string {
  const digest = createHash('sha256').update(bytes).digest('hex').slice(0, 12);
  const text = new TextDecoder().decode(bytes);
  const tag = /\\"(b\d+)\\"/.exec(text)?.[1];
  try {
    const frame = JSON.parse(text) as { type: string; seq?: number; ack?: number; body?: { kind: string } };
    const fields = [frame.type, frame.seq === undefined ? '' : `seq=${frame.seq}`, frame.ack === undefined ? '' : `ack=${frame.ack}`, frame.body?.kind ?? ''];
    return `${fields.filter((field) => field !== '').join(' ')}${tag === undefined ? '' : ` tag=${tag}`} #${digest}`;
  } catch {
    return `unparsed #${digest}`;
  }
}
