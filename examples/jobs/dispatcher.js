// The dispatcher of the job-queue example (docs/writing-vats.md, "An
// example application: a job queue across three nodes"). Jobs are submitted
// to it (from the shell: `ken-node send` or `ken-node call --vat`); workers
// on other nodes join through an ocap URL it issues for its registrar; it
// hands each job to an idle worker with a ticket to report on, and a
// durable timeout: a job whose worker does not report in time is queued
// again and given to another worker. Everything is durable, so a node that
// is killed and restarted, or a dispatcher that is upgraded, goes on.
// Parameters: `timer` and `ocapUrls` (kernel services), `timeoutMs`.
// dispatcherV2.js is its next version: it builds on `makeDispatcher`.
import { E, Far } from '@endo/far';

/**
 * The dispatcher's state and kinds, from baggage, and its root: the methods
 * below plus what `moreMethods({ jobs, update })` adds (a later version's).
 */
export function makeDispatcher(parameters, baggage, moreMethods) {
  const { timer, ocapUrls } = parameters;
  const timeoutMs = parameters.timeoutMs ?? 5_000;
  if (!baggage.has('jobs')) {
    baggage.init('nextJob', 1);
    // job id -> { id, task, state: queued | running | done, attempt, worker, result }
    baggage.init('jobs', VatData.makeScalarBigMapStore('jobs', { durable: true }));
    // worker name -> its work facet (on another node); and the names of the idle ones
    baggage.init('workers', VatData.makeScalarBigMapStore('workers', { durable: true }));
    baggage.init('idle', VatData.makeScalarBigMapStore('idle', { durable: true }));
    baggage.init('ticketKind', VatData.makeKindHandle('Ticket'));
    baggage.init('timeoutKind', VatData.makeKindHandle('Timeout'));
    baggage.init('registrarKind', VatData.makeKindHandle('Registrar'));
  }
  const jobs = baggage.get('jobs');
  const workers = baggage.get('workers');
  const idle = baggage.get('idle');
  const update = (id, changes) => jobs.set(id, harden({ ...jobs.get(id), ...changes }));

  /** Gives queued jobs, oldest first, to idle workers, each with a ticket and a timeout. */
  const dispatch = () => {
    for (const job of jobs.values()) {
      if (job.state !== 'queued') continue;
      const [name] = idle.keys();
      if (name === undefined) return;
      idle.delete(name);
      const attempt = job.attempt + 1;
      update(job.id, { state: 'running', attempt, worker: name });
      E.sendOnly(workers.get(name)).work(job.task, makeTicket(job.id, attempt, name));
      void E(timer).wakeAfter(timeoutMs, makeTimeout(job.id, attempt));
    }
  };
  const makeIdle = (name) => {
    if (workers.has(name) && !idle.has(name)) idle.init(name, true);
  };

  // What a worker reports on: only the ticket of a job's current attempt counts; either way the worker is free again.
  const makeTicket = VatData.defineDurableKind(baggage.get('ticketKind'), (id, attempt, worker) => ({ id, attempt, worker }), {
    done({ state }, result) {
      const job = jobs.get(state.id);
      makeIdle(state.worker);
      if (job.state !== 'running' || job.attempt !== state.attempt) {
        dispatch();
        return 'too late: the job was given to another worker';
      }
      update(state.id, { state: 'done', result });
      dispatch();
      return 'thanks';
    },
  });
  // Woken by the timer service: the attempt it guards is still running, so the worker is too slow or gone.
  const makeTimeout = VatData.defineDurableKind(baggage.get('timeoutKind'), (id, attempt) => ({ id, attempt }), {
    wake({ state }) {
      const job = jobs.get(state.id);
      if (job.state !== 'running' || job.attempt !== state.attempt) return;
      update(state.id, { state: 'queued' });
      dispatch();
    },
  });
  // What the join URL names: the power to register as a worker, and no more.
  const makeRegistrar = VatData.defineDurableKind(baggage.get('registrarKind'), () => ({}), {
    register(_context, name, worker) {
      if (workers.has(name)) workers.set(name, worker);
      else workers.init(name, worker);
      makeIdle(name);
      dispatch();
      return `welcome, ${name}`;
    },
  });
  if (!baggage.has('registrar')) baggage.init('registrar', makeRegistrar());

  return Far('dispatcher', {
    /** Queues a job; its id. */
    submit(task) {
      const id = baggage.get('nextJob');
      baggage.set('nextJob', id + 1);
      jobs.init(id, harden({ id, task, state: 'queued', attempt: 0, worker: null, result: null }));
      dispatch();
      return id;
    },
    /** Every job and worker. */
    status() {
      return harden({ jobs: [...jobs.values()], workers: [...workers.keys()], idle: [...idle.keys()] });
    },
    /** An ocap URL for workers to join with, valid for `expiresInMs` (default an hour). */
    joinUrl(expiresInMs = 3_600_000) {
      return E(ocapUrls).issue(baggage.get('registrar'), { expiresInMs });
    },
    version() {
      return 1;
    },
    ...moreMethods({ jobs, update }),
  });
}

export function buildRootObject(_vatPowers, parameters, baggage) {
  return makeDispatcher(parameters, baggage, () => ({}));
}
