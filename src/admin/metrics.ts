import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { KernelObserver } from '../kernel/kernel.js';
import type { KenNode } from '../node/node.js';
import { peerStates, vatStatesOf } from './nodeStatus.js';

const vatStates = ['live', 'failed', 'terminated'] as const;

/** COMMIT durations, seconds: from a page-cache write (`process`) to a slow fsync. */
const commitSecondsBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * The node's Prometheus metrics (`GET /metrics`). Counters are the kernel's
 * and the sessions' own (`kernel.stats`, `sessions.stats`, reset when the
 * process starts, which Prometheus's `rate()` allows for), copied at each
 * scrape; per-peer gauges are read from the store at each scrape. Only the
 * commit histogram is fed as things happen, by the kernel's observer.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  /** Give it to `KenNode.start`: the kernel reports each COMMIT's duration to it. */
  readonly kernelObserver: KernelObserver;
  #node: KenNode | undefined;

  readonly #counters: { metric: Counter; read: (node: KenNode) => number }[];
  readonly #runQueueLength: Gauge;
  readonly #peerConnected: Gauge<'peer'>;
  readonly #outboxDepth: Gauge<'peer'>;
  readonly #oldestUnackedAge: Gauge<'peer'>;
  readonly #messagesRefused: Counter<'peer'>;
  readonly #vats: Gauge<'state'>;

  constructor() {
    const registers = [this.registry];
    const counter = (name: string, help: string, read: (node: KenNode) => number) => ({
      metric: new Counter({ name, help, registers }),
      read,
    });
    this.#counters = [
      counter('ken_cranks_total', 'Cranks run since the process started (rate() of it is cranks per second).', (node) => node.kernel.stats.cranks),
      counter('ken_commits_total', 'COMMITs that wrote something.', (node) => node.kernel.stats.commits),
      counter('ken_aborted_cranks_total', 'Cranks rolled back because their vat failed.', (node) => node.kernel.stats.abortedCranks),
      counter('ken_frames_sent_total', 'Frames written to peers (messages, acks, hellos).', (node) => node.sessions.stats.framesSent),
      counter('ken_frames_received_total', 'Frames received from peers.', (node) => node.sessions.stats.framesReceived),
      counter('ken_messages_sent_total', 'Message frames written to peers, resends included.', (node) => node.sessions.stats.msgsSent),
      counter('ken_retransmits_total', 'Messages sent again because a connection broke or an ack was late.', (node) => node.sessions.stats.retransmits),
      counter('ken_duplicates_dropped_total', 'Messages from peers dropped as already consumed.', (node) => node.sessions.stats.duplicatesDropped),
      counter('ken_gaps_dropped_total', 'Messages from peers dropped because an earlier one had not arrived.', (node) => node.sessions.stats.gapsDropped),
      counter('ken_bad_frames_total', 'Frames from peers refused as malformed or forbidden (their connection was closed).', (node) => node.sessions.stats.badFrames),
      counter('ken_frames_of_mismatched_pair_total', 'Messages and acks from peers not read because the pair did not match (a rolled-back store, an old incarnation).', (node) => node.sessions.stats.framesOfMismatchedPair),
      counter('ken_frames_beyond_window_total', 'Messages from peers dropped for coming past the window this node granted them (they are sent again).', (node) => node.sessions.stats.framesBeyondWindow),
      counter('ken_sends_refused_total', 'Sends to peers refused because the peer\'s outbox was full (their results were rejected).', (node) => node.sessions.stats.sendsRefused),
      counter('ken_send_only_held_total', 'Send-only messages put in a peer\'s outbox already at its limit (never refused: they have no result to reject).', (node) => node.sessions.stats.sendOnlyHeld),
      counter('ken_send_only_dropped_total', 'Send-only messages to forgotten peers, dropped.', (node) => node.sessions.stats.sendOnlyDropped),
    ];
    const commitSeconds = new Histogram({
      name: 'ken_commit_duration_seconds',
      help: 'How long each COMMIT that wrote something took (fsync included in durability fsync).',
      buckets: commitSecondsBuckets,
      registers,
    });
    this.kernelObserver = { committed: (ns) => commitSeconds.observe(Number(ns) / 1e9) };
    this.#runQueueLength = new Gauge({ name: 'ken_run_queue_length', help: 'Items waiting in the run queue.', registers });
    const labelNames = ['peer'] as const;
    this.#peerConnected = new Gauge({ name: 'ken_peer_connected', help: '1 while the transport has a connection with the peer, else 0.', labelNames, registers });
    this.#outboxDepth = new Gauge({ name: 'ken_outbox_depth', help: 'Messages to the peer not yet acknowledged.', labelNames, registers });
    this.#oldestUnackedAge = new Gauge({
      name: 'ken_outbox_oldest_unacked_age_seconds',
      help: 'Age of the oldest message to the peer not yet acknowledged (0 when there is none).',
      labelNames,
      registers,
    });
    this.#messagesRefused = new Counter({
      name: 'ken_messages_refused_total',
      help: 'Messages from the peer refused alone (bad arguments, or naming what it was never given): consumed, their results rejected back to it.',
      labelNames,
      registers,
    });
    this.#vats = new Gauge({ name: 'ken_vats', help: 'Vats by state: live, failed (stopped by a fault of their own, state kept), terminated.', labelNames: ['state'] as const, registers });
  }

  /** From now on, scrapes read this node. */
  watch(node: KenNode): void {
    this.#node = node;
  }

  /** The exposition text, with every counter and gauge read now. */
  async render(): Promise<string> {
    if (this.#node !== undefined) this.#read(this.#node);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #read(node: KenNode): void {
    for (const { metric, read } of this.#counters) {
      // A counter cannot be set: start it over at the source's value.
      metric.reset();
      metric.inc(read(node));
    }
    this.#runQueueLength.set(node.kernel.runQueueLength);
    for (const gauge of [this.#peerConnected, this.#outboxDepth, this.#oldestUnackedAge]) gauge.reset();
    for (const peer of peerStates(node)) {
      const labels = { peer: peer.peerId };
      this.#peerConnected.set(labels, peer.connected ? 1 : 0);
      this.#outboxDepth.set(labels, peer.outboxDepth);
      this.#oldestUnackedAge.set(labels, peer.oldestUnackedAgeSeconds ?? 0);
    }
    this.#messagesRefused.reset();
    for (const [peer, refused] of node.sessions.refusalCounts()) this.#messagesRefused.inc({ peer }, refused);
    this.#vats.reset();
    for (const state of vatStates) this.#vats.set({ state }, 0);
    for (const vat of vatStatesOf(node)) this.#vats.inc({ state: vat.state });
  }
}
