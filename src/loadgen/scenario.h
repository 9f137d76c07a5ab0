// Scenario: a bounded end-to-end run against real processes on 127.0.0.1. It starts a supplier
// simulator and a topup server as child processes, posts a fixed number of orders over HTTP,
// optionally SIGKILLs and restarts the server during the load, waits (bounded) until every
// order is final, and checks the outcome against the store and the simulator's credit list.
// Used by `topup demo`, `topup bench` and the integration tests.
#pragma once

#include <csignal>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "loadgen/merchant_receiver.h"
#include "topup/status.h"

namespace topup::loadgen {

struct ScenarioOptions {
  std::string topup_binary;  // the topup executable to run as sim and server
  std::string work_dir;      // holds the database and the children's logs; must exist
  int orders = 3000;
  int connections = 16;         // concurrent keep-alive merchant connections
  double rate_limit_per_s = 0;  // orders placed per second at most; 0: as fast as acknowledged
  int64_t deadline_s = 180;     // the promise under test
  std::vector<std::string> sim_flags;    // extra flags for `topup sim`
  std::vector<std::string> serve_flags;  // extra flags for `topup serve`
  // Several channels: the simulator's --channels-config, made from the nodes' ports (for
  // callbacks), and the servers' --channels file, made from the simulator's port. Both or neither.
  std::function<std::string(const std::vector<uint16_t>& node_ports)> sim_channels_config;
  std::function<std::string(uint16_t sim_port)> serve_channels_config;
  // The simulator serves HTTPS with a certificate of a private CA made in work_dir, which the
  // server is told to trust. One channel only (not with the channel files above).
  bool supplier_tls = false;
  // Backends shared by the nodes. Empty store_url: a SQLite file in work_dir; empty queue_url:
  // each node's embedded queue.
  std::string store_url;
  std::string queue_url;
  int nodes = 1;        // `topup serve` processes; merchants spread over them
  int serve_kills = 0;  // stop node 0 this many times while orders arrive
  int64_t kill_interval_ms = 2'000;
  // How node 0 is stopped: SIGKILL (a crash) or SIGTERM (a graceful stop: its exit code, how long
  // it took and the leases it left behind are reported).
  int stop_signal = SIGKILL;
  bool restart_killed = true;  // start a killed node again (else the others carry on)
  // Run once, fault_after_ms into the load (e.g. restart the broker). Its error fails the run.
  std::function<Status()> fault;
  int64_t fault_after_ms = 2'000;
  int64_t load_max_ms = 120'000;        // posting stops after this long, whatever is left
  int64_t wait_final_max_ms = 240'000;  // waiting for final states stops after this long
  // Notifications: every order carries a notify_url of a MerchantReceiver started for the run
  // (the servers get --notify-allow-private), which misbehaves in `receiver_faults` (ms from the
  // load's start). Once every order is final, the run waits (at most wait_notified_max_ms) until
  // each final order's notification is acknowledged.
  bool notify = false;
  std::vector<ReceiverFault> receiver_faults;
  int64_t wait_notified_max_ms = 120'000;
  // Given the receiver once it listens, before the load (a test keeps it to read it afterwards).
  std::function<void(std::shared_ptr<const MerchantReceiver>)> on_receiver;
  uint64_t seed = 1;
  std::ostream* progress = nullptr;  // a progress line per second when set
};

struct ScenarioReport {
  int64_t requested = 0;  // orders the load tried to place
  int64_t accepted = 0;   // distinct orders the server acknowledged
  int64_t rejected = 0;   // 4xx answers
  std::map<std::string, int64_t> rejected_by_code;
  int64_t not_acknowledged = 0;  // never got an answer within load_max_ms
  int64_t orders_in_store = 0;
  int64_t lost = 0;  // acknowledged but absent from the store
  int64_t succeeded = 0;
  int64_t failed_refunded = 0;
  int64_t still_open = 0;
  double load_s = 0;  // first request to last acknowledgement
  double run_s = 0;   // first request to last final state
  double accepted_per_s = 0;
  double final_per_s = 0;  // final orders / run_s
  int64_t latency_p50_ms = 0, latency_p95_ms = 0, latency_p99_ms = 0, latency_max_ms = 0;
  double share_final_within_deadline = 0;  // of accepted orders
  int64_t missed_deadline = 0;
  int64_t sim_connections_accepted = 0;  // TCP connections the simulator accepted from the nodes
  // Summed over the nodes' /metrics at the end (Store::WriteCounts); -1 when a node was killed
  // (its figures died with it) or could not be read.
  int64_t store_write_calls = -1;
  int64_t store_order_writes = -1;
  // Supplier answers "processing" the nodes saw, to submits and queries; -1 as above.
  int64_t supplier_processing_answers = -1;
  // Accepted orders the nodes' APIs handed to their own engines, not the queue; -1 as above.
  int64_t handed_off = -1;
  int64_t credits = 0;
  int64_t double_credits = 0;           // orders the supplier credited more than once
  int64_t credits_on_unsuccessful = 0;  // credited by the supplier, failed or open here
  int64_t successes_without_credit = 0;
  bool ledger_balanced = false;
  std::string ledger_problems;
  int server_kills = 0;
  // For each stop of node 0: its exit code (-1 if a signal ended it), and the most time one took.
  std::vector<int> stop_exit_codes;
  int64_t stop_ms_max = 0;
  // Open orders still leased by node 0 right after it stopped (before any restart), summed over
  // its stops: what waits for a lease to lapse.
  int64_t leases_left_by_stopped = 0;
  // CPU seconds (user + system) used over the run by the server nodes still running at the end,
  // by the simulator, and by the load generator (this process).
  double server_cpu_s = 0, sim_cpu_s = 0, loadgen_cpu_s = 0;
  // The merchant receiver's (with notify), kept out of loadgen_cpu_s.
  double receiver_cpu_s = 0;
  int64_t server_peak_rss_bytes = 0;  // the largest peak resident memory of a server node
  // From acceptance to the start of an order's first attempt.
  int64_t first_attempt_p50_ms = 0, first_attempt_p99_ms = 0, first_attempt_max_ms = 0;
  // Attempts started on each channel in each 10 s from the first acceptance.
  std::map<std::string, std::vector<int64_t>> attempts_per_10s;
  // Log lines of the children that report a transition the store refused: each is a bug.
  int64_t invalid_transitions_logged = 0;
  // For each order that missed the deadline (final late, or still open): why, in the server's
  // words (its deadline_missed event).
  std::vector<std::string> misses;
  // Notifications (ScenarioOptions::notify): acknowledged by the receiver (repeats included),
  // final orders without an acknowledged notification of their final status at the end, repeats
  // of an order id + status acknowledged before, requests refused for their signature, and the
  // faults the receiver played. Latency: from an order's finished_ms to the first acknowledgement.
  bool notify = false;
  int64_t notifications_acknowledged = 0;
  int64_t notifications_missing = 0;
  int64_t notifications_duplicated = 0;
  int64_t notification_bad_signatures = 0;
  int64_t receiver_failed = 0, receiver_hung = 0;
  int64_t receiver_connections = 0;  // TCP connections the receiver accepted
  int64_t notify_latency_p50_ms = 0, notify_latency_p99_ms = 0, notify_latency_max_ms = 0;

  // Every acknowledged order final, none lost, none credited twice, money right, no transition
  // refused; with notifications, every final order's acknowledged and every signature good.
  bool Correct() const;
};

Result<ScenarioReport> RunScenario(const ScenarioOptions& options);
void PrintReport(const ScenarioReport& report, int64_t deadline_s, std::ostream& out);

}  // namespace topup::loadgen
