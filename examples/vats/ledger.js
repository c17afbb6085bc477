// An example vat for the lean runtime (docs/writing-vats.md, "Two runtimes"):
// accounts as durable objects, kept in a durable map store, and a watcher
// told of every transfer by send-only messages. Everything it uses is in
// both runtimes; created with `runtime: "lean"` it runs on the faster one.
import { E, Far } from '@endo/far';

export function buildRootObject(_vatPowers, _parameters, baggage) {
  if (!baggage.has('accounts')) {
    // owner -> account (a durable object)
    baggage.init('accounts', VatData.makeScalarBigMapStore('accounts', { durable: true }));
    baggage.init('accountKind', VatData.makeKindHandle('Account'));
  }
  const accounts = baggage.get('accounts');
  const amountOf = (amount) => {
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) throw TypeError(`not an amount: ${amount}`);
    return amount;
  };
  // Redefined at every start: the accounts peers hold stay valid across restarts.
  const makeAccount = VatData.defineDurableKind(baggage.get('accountKind'), (owner) => ({ owner, balance: 0 }), {
    owner: ({ state }) => state.owner,
    balance: ({ state }) => state.balance,
    deposit({ state }, amount) {
      state.balance += amountOf(amount);
      return state.balance;
    },
    withdraw({ state }, amount) {
      if (amountOf(amount) > state.balance) throw Error(`${state.owner} has ${state.balance}, not ${amount}`);
      state.balance -= amount;
      return state.balance;
    },
  });
  const accountOf = (owner) => {
    if (!accounts.has(owner)) throw Error(`no account of ${owner}`);
    return accounts.get(owner);
  };
  return Far('ledger', {
    open(owner) {
      if (accounts.has(owner)) throw Error(`${owner} has an account already`);
      const account = makeAccount(owner);
      accounts.init(owner, account);
      return account;
    },
    account: accountOf,
    /** Moves `amount` from one owner to another and tells `watcher`, if given, send-only (it answers nothing). */
    transfer(from, to, amount, watcher) {
      const target = accountOf(to);
      accountOf(from).withdraw(amount);
      const balance = target.deposit(amount);
      if (watcher !== undefined) E.sendOnly(watcher).transferred(from, to, amount);
      return balance;
    },
    owners: () => harden([...accounts.keys()]),
  });
}
