// A worker of the job-queue example (docs/writing-vats.md). It joins a
// dispatcher through an ocap URL, and does each job it is given by waiting
// `workMs` on the timer service (a stand-in for real work), then reports on
// the job's ticket. The wait is a durable wake-up: a worker whose node is
// killed mid-job finishes it after the restart (and is told if it was too
// late). Parameters: `name`, `workMs`, `timer` and `ocapUrls`.
import { E, Far } from '@endo/far';

export function buildRootObject(_vatPowers, parameters, baggage) {
  const { timer, ocapUrls } = parameters;
  if (!baggage.has('name')) {
    baggage.init('name', parameters.name);
    baggage.init('workMs', parameters.workMs ?? 1_000);
    // job number here -> what became of it
    baggage.init('log', VatData.makeScalarBigMapStore('log', { durable: true }));
    baggage.init('finishKind', VatData.makeKindHandle('Finish'));
    baggage.init('answerKind', VatData.makeKindHandle('Answer'));
    baggage.init('facetKind', VatData.makeKindHandle('WorkFacet'));
  }
  const name = baggage.get('name');
  const log = baggage.get('log');
  const note = (entry) => log.init(log.getSize() + 1, harden(entry));

  // Watches the dispatcher's answer durably: it may come after a restart of this vat.
  const makeAnswerWatcher = VatData.defineDurableKind(baggage.get('answerKind'), (task) => ({ task }), {
    onFulfilled({ state }, answer) {
      note({ task: state.task, answer });
    },
    onRejected({ state }, reason) {
      note({ task: state.task, answer: `not delivered: ${reason.message}` });
    },
  });
  // The end of a job's work, woken by the timer service.
  const makeFinish = VatData.defineDurableKind(baggage.get('finishKind'), (task, ticket) => ({ task, ticket }), {
    wake({ state }) {
      VatData.watchPromise(E(state.ticket).done(`${name} did ${state.task}`), makeAnswerWatcher(state.task));
    },
  });
  // The object the dispatcher holds: it can give work, and nothing else.
  const makeFacet = VatData.defineDurableKind(baggage.get('facetKind'), () => ({}), {
    work(_context, task, ticket) {
      void E(timer).wakeAfter(baggage.get('workMs'), makeFinish(task, ticket));
    },
  });
  if (!baggage.has('facet')) baggage.init('facet', makeFacet());

  return Far('worker', {
    /** Redeems the dispatcher's join URL and registers this worker with it. */
    join(url) {
      return E(E(ocapUrls).redeem(url)).register(name, baggage.get('facet'));
    },
    /** How long each job takes from now on. */
    setWorkMs(ms) {
      baggage.set('workMs', ms);
    },
    /** What this worker did, and what the dispatcher answered. */
    log() {
      return harden([...log.values()]);
    },
  });
}
