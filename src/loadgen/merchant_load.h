// MerchantLoad: places orders the way a busy merchant does, over a fixed number of concurrent
// keep-alive exchanges ("lanes"), all driven from one thread, so that the load generator costs
// little of the CPU it shares with the server it measures.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace topup::loadgen {

// What placing the orders came to.
struct LoadTally {
  std::set<std::string> order_ids;  // acknowledged (201 or 200), by the server's order id
  std::map<std::string, int64_t> rejected_by_code;
  int64_t rejected = 0;          // answered 4xx: final, not retried
  int64_t not_acknowledged = 0;  // no answer before the load's deadline
};

struct MerchantLoadOptions {
  std::vector<uint16_t> ports;  // one per node on 127.0.0.1; lane i starts on node i % size
  int lanes = 1;  // requests in flight at once; lane i places orders i, i + lanes, ...
  double rate_limit_per_s = 0;  // orders placed per second in all; 0: as fast as answered
  std::chrono::steady_clock::time_point start;
  std::chrono::steady_clock::time_point deadline;  // no order is sent or retried after this
  // The merchant's API key: every request, retries included, is signed afresh with it.
  std::string key_id;
  std::string secret;
};

class MerchantLoad {
 public:
  // `bodies` (the JSON of each order) must outlive the load.
  MerchantLoad(MerchantLoadOptions options, const std::vector<std::string>& bodies);

  // Places every order until it is acknowledged, rejected with a 4xx, or the deadline passes.
  // Transport errors and 5xx answers are retried with the same body (so the same
  // merchant_order_id, which makes the retry safe) and a new nonce, on the next node after
  // 100 ms. Returns when every lane is done.
  LoadTally Run();

  // Thread-safe; for progress reports while Run() runs.
  int64_t acknowledged() const;

 private:
  const MerchantLoadOptions options_;
  const std::vector<std::string>& bodies_;
  mutable std::mutex mu_;
  LoadTally tally_;  // GUARDED_BY(mu_)
};

}  // namespace topup::loadgen
