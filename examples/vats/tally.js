// An example vat for the liveslots runtime (docs/writing-vats.md, "Two
// runtimes"): a vote tally that needs what only liveslots has, a durable
// set store and a durable kind with two facets (one to vote, one to close
// the vote). On the lean runtime it fails to start, and says why.
import { Far } from '@endo/far';

export function buildRootObject(_vatPowers, _parameters, baggage) {
  if (!baggage.has('pollKind')) {
    baggage.init('pollKind', VatData.makeKindHandle('Poll'));
    baggage.init('polls', VatData.makeScalarBigMapStore('polls', { durable: true }));
  }
  const polls = baggage.get('polls');
  const makePoll = VatData.defineDurableKindMulti(
    baggage.get('pollKind'),
    (question) => ({ question, open: true, voters: VatData.makeScalarBigSetStore('voters', { durable: true }), yes: 0, no: 0 }),
    {
      ballot: {
        vote({ state }, voter, yes) {
          if (!state.open) throw Error(`the poll "${state.question}" is closed`);
          if (state.voters.has(voter)) throw Error(`${voter} voted already`);
          state.voters.add(voter);
          if (yes) state.yes += 1;
          else state.no += 1;
        },
      },
      chair: {
        close({ state }) {
          state.open = false;
          return harden({ question: state.question, yes: state.yes, no: state.no });
        },
      },
    },
  );
  return Far('tally', {
    /** A new poll: its ballot facet for voters, its chair facet for whoever closes it. */
    open(question) {
      const poll = makePoll(question);
      polls.init(question, poll.chair);
      return poll;
    },
    chair: (question) => polls.get(question),
  });
}
