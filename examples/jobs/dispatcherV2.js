// Version 2 of the dispatcher (examples/jobs/dispatcher.js), for the upgrade
// step of the job-queue example (docs/writing-vats.md): the same durable
// state and kinds, defined again from baggage by the same code (an upgrade
// that left a kind out would be refused, and version 1 would run on), and
// two new methods.
import { makeDispatcher } from './dispatcher.js';

export function buildRootObject(_vatPowers, parameters, baggage) {
  return makeDispatcher(parameters, baggage, ({ jobs, update }) => ({
    /** How many jobs are in each state. */
    stats() {
      const counts = { queued: 0, running: 0, done: 0, cancelled: 0 };
      for (const job of jobs.values()) counts[job.state] += 1;
      return harden(counts);
    },
    /** Takes a job that is still queued out of the queue. */
    cancel(id) {
      const { state } = jobs.get(id);
      if (state !== 'queued') throw Error(`job ${id} is ${state}: only a queued job can be cancelled`);
      update(id, { state: 'cancelled' });
      return 'cancelled';
    },
    version() {
      return 2;
    },
  }));
}
