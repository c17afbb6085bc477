// Version 2 of bank.js: it defines the kind "Account" again from baggage,
// with a new method, and its root has a new method too.
import { E, Far } from '@endo/far';

export function buildRootObject(_vatPowers, parameters, baggage) {
  const accounts = baggage.get('accounts');
  const makeAccount = VatData.defineDurableKind(baggage.get('accountKind'), (owner) => ({ owner, balance: 0 }), {
    deposit({ state }, amount) {
      state.balance += amount;
      return state.balance;
    },
    withdraw({ state }, amount) {
      if (amount > state.balance) throw Error(`${state.owner} has only ${state.balance}`);
      state.balance -= amount;
      return state.balance;
    },
    balance({ state }) {
      return state.balance;
    },
  });
  return Far('bank', {
    open(owner) {
      const account = makeAccount(owner);
      accounts.init(owner, account);
      return account;
    },
    account(owner) {
      return accounts.get(owner);
    },
    /** An ocap URL naming the account of `owner` (a durable object), for a peer to hold. */
    publish(owner) {
      return E(parameters.ocapUrls).issue(accounts.get(owner));
    },
    version() {
      return 2;
    },
    total() {
      let total = 0;
      for (const account of accounts.values()) total += account.balance();
      return total;
    },
  });
}
