/**
 * The exactly-once checker. It reads only what survived: each party's
 * durable record of what it sent (written by committed cranks) and of what
 * it consumed, and each node's store after the heal. It knows nothing of
 * the protocol, so a bug anywhere below the vats shows up here.
 */

/** One message as a party recorded it: its per-pair sequence number and the tag of the request that made it. */
export type Entry = readonly [seq: number, tag: string];

/** What `party.report()` returns (examples/vats/party.js). */
export interface PartyReport {
  name: string;
  sent: Record<string, Entry[]>;
  received: Record<string, Entry[]>;
  /** Sends whose result was rejected back to the party, per peer. */
  rejected: Record<string, Entry[]>;
  /** Per later send (its tag): how many times its wake-up came; each must come exactly once. */
  later: Record<string, number>;
}

/**
 * What a run threw away on purpose, per party: the entries its records
 * held just before its store was rolled back to an older copy (or restored
 * as a new incarnation) and no longer hold after. A message the other side
 * consumed that the sender forgot, or that the receiver consumed and then
 * forgot, went with that state: logged by the nodes, not a violation.
 */
export type Discarded = Record<string, { sent: Record<string, Entry[]>; received: Record<string, Entry[]> }>;

/** What a node's store says after the heal. */
export interface NodeEnd {
  name: string;
  /** Outbox rows not acked, per peer name. */
  outboxDepth: Record<string, number>;
  /** Promises a peer decides that are still unresolved (a result that never came back). */
  unsettledFromPeers: number;
}

/** The guarantee a violation breaks; `protocol`: an honest peer's frame was refused as bad (the simulation, where every peer is honest). */
export type Guarantee = 'G2' | 'G3' | 'G5' | 'protocol';

export interface Violation {
  guarantee: Guarantee;
  /** The pair, sender first, when the violation is about one. */
  from?: string;
  to?: string;
  message: string;
  /** The tags involved: the history lines about them are the ones to read. */
  tags: string[];
}

const show = (entry: Entry | undefined) => (entry === undefined ? 'nothing' : `#${entry[0]} (${entry[1]})`);

/** What one pair's records say, sender first. */
interface PairRecords {
  /** As the sender's committed record has it. */
  sent: readonly Entry[];
  /** As the receiver consumed it. */
  received: readonly Entry[];
  /**
   * Sends whose rejection reached the sender, when a store of the pair was
   * put back (only then may a message go unconsumed: the pair started over);
   * empty otherwise, so that a rejection cannot hide a lost message.
   */
  rejected: readonly Entry[];
  /** What the sender's rolled-back state had sent, and the receiver's had consumed, that the records no longer hold. */
  forgottenSends: readonly Entry[];
  lostReceives: readonly Entry[];
}

const keyOf = (entry: Entry) => `${entry[0]}:${entry[1]}`;

/** Checks one pair: each message the sender committed consumed once, in order, unchanged, or rejected to it; nothing else consumed. */
function checkPair(from: string, to: string, records: PairRecords): Violation[] {
  const violations: Violation[] = [];
  const add = (guarantee: Guarantee, message: string, tags: string[]) => violations.push({ guarantee, from, to, message, tags });
  const { sent, received } = records;
  const committed = new Set(sent.map(keyOf));
  const forgotten = new Set(records.forgottenSends.map(keyOf));
  const seen = new Map<string, number>();
  let highest = 0;
  received.forEach((entry, index) => {
    const [seq, tag] = entry;
    const key = keyOf(entry);
    const times = (seen.get(key) ?? 0) + 1;
    seen.set(key, times);
    if (times === 2) add('G3', `${to} consumed ${from}'s message ${show(entry)} more than once (again at position ${index + 1})`, [tag]);
    if (forgotten.has(key) && !committed.has(key)) return; // sent by state the run threw away
    if (!committed.has(key)) {
      const atSeq = sent[seq - 1];
      if (atSeq === undefined) add('G2', `${to} consumed ${show(entry)} from ${from}, which no committed crank of ${from} sent (${from} committed ${sent.length})`, [tag]);
      else add('G2', `${to} consumed ${show(entry)} from ${from}, but ${from}'s committed #${seq} is ${show(atSeq)}: output of a rolled-back crank`, [tag, atSeq[1]]);
    }
    if (times === 1 && seq < highest) add('G3', `${to} consumed ${from}'s #${seq} after #${highest}: out of order`, [tag]);
    highest = Math.max(highest, seq);
  });
  const accounted = new Set([...records.rejected.map(keyOf), ...records.lostReceives.map(keyOf)]);
  for (const entry of sent) {
    if (!seen.has(keyOf(entry)) && !accounted.has(keyOf(entry))) {
      add('G3', `${from} committed ${show(entry)} to ${to}, which ${to} never consumed, and its rejection never reached ${from}`, [entry[1]]);
    }
  }
  return violations;
}

/** Every violation of G2, G3 and G5 the records show; none means the run kept its guarantees. */
export function checkRun(reports: readonly PartyReport[], ends: readonly NodeEnd[], discarded: Discarded = {}): Violation[] {
  const violations: Violation[] = [];
  const byName = new Map(reports.map((report) => [report.name, report]));
  for (const receiver of reports) {
    for (const from of Object.keys(receiver.received)) {
      if (!byName.has(from)) {
        violations.push({ guarantee: 'G2', from, to: receiver.name, message: `${receiver.name} consumed messages from ${from}, a party that does not exist`, tags: [] });
      }
    }
  }
  for (const sender of reports) {
    const peers = new Set([...Object.keys(sender.sent), ...reports.filter((r) => r.received[sender.name] !== undefined).map((r) => r.name)]);
    for (const to of peers) {
      const receiver = byName.get(to);
      const storePutBack = discarded[sender.name] !== undefined || discarded[to] !== undefined;
      violations.push(
        ...checkPair(sender.name, to, {
          sent: sender.sent[to] ?? [],
          received: receiver?.received[sender.name] ?? [],
          rejected: storePutBack ? (sender.rejected[to] ?? []) : [],
          forgottenSends: discarded[sender.name]?.sent[to] ?? [],
          lostReceives: discarded[to]?.received[sender.name] ?? [],
        }),
      );
    }
  }
  for (const report of reports) {
    for (const [tag, wakes] of Object.entries(report.later)) {
      if (wakes !== 1) violations.push({ guarantee: 'G3', from: report.name, message: `${report.name}'s wake-up for ${tag} came ${wakes} times, not once`, tags: [tag] });
    }
  }
  for (const end of ends) {
    for (const [peer, depth] of Object.entries(end.outboxDepth)) {
      if (depth > 0) violations.push({ guarantee: 'G5', from: end.name, to: peer, message: `after the heal, ${end.name}'s outbox to ${peer} still holds ${depth} rows`, tags: [] });
    }
    if (end.unsettledFromPeers > 0) {
      violations.push({ guarantee: 'G5', from: end.name, message: `after the heal, ${end.unsettledFromPeers} results ${end.name} awaits from peers never settled`, tags: [] });
    }
  }
  return violations;
}

/**
 * The history lines a reader needs for `violation`: those naming its tags,
 * and the crashes, restarts and partitions of the nodes involved (a party
 * has its node's name).
 */
export function historyFor(violation: Violation, history: readonly string[], limit = 40): string[] {
  const nodes = [violation.from, violation.to].filter((party) => party !== undefined);
  const relevant = history.filter(
    (line) =>
      violation.tags.some((tag) => line.includes(`tag=${tag}`)) ||
      (/ (crash|restart|partition|heal|kill|backup|rollback|amnesia)/.test(line) && nodes.some((node) => line.includes(node))),
  );
  return relevant.length > limit ? [...relevant.slice(0, limit / 2), `... ${relevant.length - limit} lines ...`, ...relevant.slice(-limit / 2)] : relevant;
}
