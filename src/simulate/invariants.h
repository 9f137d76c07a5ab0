// The promises a simulated run is checked against. Each check returns what it found broken, or
// nullopt.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "simulate/credit_book.h"
#include "simulate/simulated_receiver.h"
#include "topup/store.h"

namespace topup::simulate {

// The store's own audit: every balance is the sum of its ledger; balance plus the prices of the
// open and succeeded orders is the funding; one debit per order, one refund per failed order.
std::optional<std::string> CheckLedger(Store& store);

// At the end of a run, for every order the merchants created (merchant_order_id -> order_id):
// the order is final; its history is one chain of states ending in its status; the suppliers' books
// credited its phone at most once, exactly once if it succeeded and never if it failed (and so was
// refunded); the store holds no other order.
std::optional<std::string> CheckFinal(Store& store, const CreditBook& book,
                                      const std::map<std::string, std::string>& created);

// At the end of a run, for every order the merchants created: one notification if it names a
// notify_url (none if not), announcing its final status to its merchant's URL; acknowledged
// only if the merchant acknowledged a try of it in time, given up only after every try of the
// schedule, and only by a merchant that never answers; every recorded try reached the merchant,
// and every try whose answer reached a node that is still up is recorded.
std::optional<std::string> CheckNotifications(Store& store, const SimulatedReceiver& receiver,
                                              const std::map<std::string, std::string>& created);

}  // namespace topup::simulate
