import path from 'node:path';
import type { NodeEnd, PartyReport } from '../fault/checker.js';
import type { SessionStats } from '../remote/session.js';

/**
 * What the chaos runner and its node processes say to each other: files in
 * the run directory for URLs, JSON lines on the nodes' stdout, and the
 * words `report` and `stop` on their stdin.
 */

/** What `party.counts()` returns (examples/vats/party.js). */
export interface PartyCounts {
  peers: string[];
  sent: Record<string, number>;
  received: Record<string, number>;
}

export interface ChaosStatus {
  name: string;
  /** Every message this node is to send is in its party's committed record. */
  sendingDone: boolean;
  /** Empty run queue, every outbox row acked. */
  drained: boolean;
  counts: PartyCounts;
  end: NodeEnd;
  /** This process's session counters (src/remote/session.ts), since it started. */
  sessions: SessionStats;
}

export type ChaosNodeLine = { status: ChaosStatus } | { report: PartyReport; end: NodeEnd };

export function chaosFiles(runDir: string) {
  return {
    /** Where node `name` publishes its party's URL (with its real address). */
    url: (name: string) => path.join(runDir, 'urls', `${name}.url`),
    /** Where the runner puts `peer`'s URL for `name`, rewritten to dial through the proxy of that link. */
    peerUrl: (name: string, peer: string) => path.join(runDir, 'peer-urls', name, `${peer}.url`),
    dataDir: (name: string) => path.join(runDir, 'nodes', name),
    log: (name: string) => path.join(runDir, 'logs', `${name}.log`),
  };
}
