// Version 1 of a vat that is upgraded in tests: accounts are durable
// objects of the kind "Account", kept in a durable map in baggage.
import { E, Far } from '@endo/far';

export function buildRootObject(_vatPowers, parameters, baggage) {
  if (!baggage.has('accounts')) {
    baggage.init('accounts', VatData.makeScalarBigMapStore('accounts', { durable: true }));
    baggage.init('accountKind', VatData.makeKindHandle('Account'));
  }
  const accounts = baggage.get('accounts');
  const makeAccount = VatData.defineDurableKind(baggage.get('accountKind'), (owner) => ({ owner, balance: 0 }), {
    deposit({ state }, amount) {
      state.balance += amount;
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
      return 1;
    },
    /** An object that is not durable: lost at an upgrade, as at a restart. */
    ephemeral() {
      return Far('ephemeral', { hello: () => 'hello' });
    },
  });
}
