#include "loadgen/scenario.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <fstream>
#include <future>
#include <iomanip>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "auth/merchant_keys.h"
#include "auth/secret_box.h"
#include "backends/backends.h"
#include "core/validation.h"
#include "http/async_http_client.h"
#include "http/private_ca.h"
#include "loadgen/merchant_load.h"
#include "process/child_process.h"
#include "topup/clock.h"
#include "topup/random.h"

namespace topup::loadgen {
namespace {

namespace json = boost::json;
using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kMerchantId = "loadgen";

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

std::string RandomPhone(Random& random) {
  static constexpr const char* kSegments[] = {"138", "139", "186", "130", "189", "133", "192"};
  std::string phone = kSegments[random.NextBelow(std::size(kSegments))];
  while (phone.size() < 11) phone += static_cast<char>('0' + random.NextBelow(10));
  return phone;
}

// The nodes' master key, made for the run and readable by its owner only.
std::string MasterKeyPath(const ScenarioOptions& options) {
  return options.work_dir + "/master.key";
}

std::vector<std::string> ServeArgs(const ScenarioOptions& options, const std::string& store_url,
                                   const std::string& supplier_flag,
                                   const std::string& supplier_ca_file, uint16_t port,
                                   const std::string& node_id) {
  std::vector<std::string> args = {
      options.topup_binary,
      "serve",
      "--store",
      store_url,
      "--port",
      std::to_string(port),
      "--node-id",
      node_id,
      supplier_flag.starts_with("http") ? "--supplier-url" : "--channels",
      supplier_flag,
      "--deadline-s",
      std::to_string(options.deadline_s)};
  if (!options.queue_url.empty()) {
    args.push_back("--queue");
    args.push_back(options.queue_url);
  }
  if (!supplier_ca_file.empty()) {
    args.push_back("--supplier-ca-file");
    args.push_back(supplier_ca_file);
  }
  args.push_back("--master-key-file");
  args.push_back(MasterKeyPath(options));
  if (options.notify) args.push_back("--notify-allow-private");  // the receiver is on 127.0.0.1
  args.insert(args.end(), options.serve_flags.begin(), options.serve_flags.end());
  return args;
}

// GET `target` from the simulator, over HTTPS when `ca_file` is set.
Result<http::HttpResponse> GetFromSim(uint16_t sim_port, const std::string& ca_file,
                                      std::string target) {
  http::AsyncHttpClientOptions client_options;
  if (!ca_file.empty()) client_options.tls = http::AsyncHttpClientOptions::Tls{.ca_file = ca_file};
  http::AsyncHttpClient client("127.0.0.1", sim_port, client_options);
  std::promise<Result<http::HttpResponse>> promise;
  std::future<Result<http::HttpResponse>> answer = promise.get_future();
  client.Send(
      "GET", std::move(target), "", Ms(30'000),
      [&promise](Result<http::HttpResponse> response) { promise.set_value(std::move(response)); });
  return answer.get();  // the client answers within the timeout
}

Result<std::vector<std::string>> FetchCreditedSupplierOrderIds(uint16_t sim_port,
                                                               const std::string& ca_file) {
  Result<http::HttpResponse> response = GetFromSim(sim_port, ca_file, "/credits");
  if (!response.ok()) return response.status();
  boost::system::error_code error;
  json::value parsed = json::parse(response->body, error);
  if (error || !parsed.is_object() || !parsed.as_object().contains("credits")) {
    return Internal("the simulator's credit list is unreadable");
  }
  std::vector<std::string> ids;
  for (const json::value& credit : parsed.at("credits").as_array()) {
    ids.push_back(json::value_to<std::string>(credit.at("supplier_order_id")));
  }
  return ids;
}

// The simulator's count of accepted TCP connections, or -1 if it cannot be read.
int64_t FetchSimConnectionsAccepted(uint16_t sim_port, const std::string& ca_file) {
  Result<http::HttpResponse> response = GetFromSim(sim_port, ca_file, "/stats");
  if (!response.ok()) return -1;
  boost::system::error_code error;
  json::value parsed = json::parse(response->body, error);
  const json::value* accepted = error || !parsed.is_object()
                                    ? nullptr
                                    : parsed.as_object().if_contains("connections_accepted");
  return accepted != nullptr && accepted->is_int64() ? accepted->as_int64() : -1;
}

// The sum of the samples of `name` in a Prometheus text page whose labels contain `label` (empty:
// every sample), or -1 if there is none.
int64_t SumOfSamples(std::string_view page, std::string_view name, std::string_view label) {
  int64_t sum = -1;
  size_t at = 0;
  while (at < page.size()) {
    size_t end = page.find('\n', at);
    if (end == std::string_view::npos) end = page.size();
    const std::string_view line = page.substr(at, end - at);
    at = end + 1;
    if (!line.starts_with(name) || line.size() <= name.size()) continue;
    const char after = line[name.size()];
    if (after != ' ' && after != '{') continue;
    const size_t space = line.rfind(' ');
    if (!label.empty() && line.substr(0, space).find(label) == std::string_view::npos) continue;
    sum = std::max<int64_t>(sum, 0) +
          static_cast<int64_t>(std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr));
  }
  return sum;
}

// Adds what one node's /metrics say to `report`'s store and supplier figures; sets them to -1
// for good if the page cannot be read.
void AddNodeFigures(uint16_t port, ScenarioReport* report) {
  http::AsyncHttpClient client("127.0.0.1", port, http::AsyncHttpClientOptions{});
  std::promise<Result<http::HttpResponse>> promise;
  std::future<Result<http::HttpResponse>> answer = promise.get_future();
  client.Send("GET", "/metrics", "", Ms(30'000), [&promise](Result<http::HttpResponse> response) {
    promise.set_value(std::move(response));
  });
  Result<http::HttpResponse> page = answer.get();
  const std::string_view body = page.ok() && page->status == 200 ? page->body : "";
  const std::pair<int64_t*, int64_t> figures[] = {
      {&report->store_write_calls, SumOfSamples(body, "topup_store_write_calls_total", "")},
      {&report->store_order_writes, SumOfSamples(body, "topup_store_order_writes_total", "")},
      {&report->supplier_processing_answers,
       std::max<int64_t>(
           0, SumOfSamples(body, "topup_supplier_calls_total", "outcome=\"processing\""))},
      {&report->handed_off, SumOfSamples(body, "topup_engine_handed_off_total", "")}};
  for (auto [total, value] : figures) {
    if (body.empty() || value < 0 || *total == -2) {
      *total = -2;  // unknown for good; shown as -1 below
    } else {
      *total = std::max<int64_t>(*total, 0) + value;
    }
  }
}

Status WriteFile(const std::string& path, const std::string& content) {
  // Created for the owner only: one of these files holds the master key.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) ::close(fd);
  std::ofstream file(path, std::ios::trunc);
  file << content;
  file.close();
  return file ? Status::Ok() : Unavailable("write_failed", "cannot write " + path);
}

// One line on why an order missed its deadline: the server's own account, the detail of the
// order's kDeadlineMissedEvent.
std::string ExplainMiss(const Order& order, const std::vector<OrderEvent>& events) {
  std::string line = order.order_id + " " + std::string(OrderStatusName(order.status)) + ": ";
  for (const OrderEvent& event : events) {
    if (event.kind == kDeadlineMissedEvent) return line + event.detail;
  }
  return line + "no reason recorded by the server (no step of the order since its deadline)";
}

// Counts the lines of the children's log that report a transition the store refused.
int64_t CountInvalidTransitions(const std::string& log_path) {
  std::ifstream log(log_path);
  int64_t count = 0;
  for (std::string line; std::getline(log, line);) {
    count += line.find("invalid_transition") != std::string::npos ? 1 : 0;
  }
  return count;
}

// "<supplier_order_id> on <channel>[ after ...]": the channel of an attempt_started event.
std::string ChannelOfAttemptStarted(const std::string& detail) {
  const size_t on = detail.find(" on ");
  if (on == std::string::npos) return "";
  const size_t begin = on + 4;
  return detail.substr(begin, detail.find(' ', begin) - begin);
}

// Open orders whose lease `owner` holds (lapsed or not), read page by page.
Result<int64_t> CountOpenLeasedBy(Store& store, const std::string& owner) {
  int64_t leased = 0;
  for (OrderStatus status :
       {OrderStatus::kAccepted, OrderStatus::kCharging, OrderStatus::kUnknown}) {
    OrderFilter filter;
    filter.status = status;
    filter.limit = 1'000;
    while (true) {
      Result<std::vector<Order>> page = store.FindOrders(filter);
      if (!page.ok()) return page.status();
      if (page->empty()) break;
      for (const Order& order : *page) leased += order.lease_owner == owner ? 1 : 0;
      filter.after_order_id = page->back().order_id;
    }
  }
  return leased;
}

int64_t Percentile(const std::vector<int64_t>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(fraction * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

}  // namespace

bool ScenarioReport::Correct() const {
  return lost == 0 && still_open == 0 && double_credits == 0 && credits_on_unsuccessful == 0 &&
         successes_without_credit == 0 && ledger_balanced && not_acknowledged == 0 &&
         orders_in_store == accepted && invalid_transitions_logged == 0 &&
         (!notify || (notifications_missing == 0 && notification_bad_signatures == 0));
}

Result<ScenarioReport> RunScenario(const ScenarioOptions& options) {
  const std::string store_url =
      options.store_url.empty() ? options.work_dir + "/topup.db" : options.store_url;
  const std::string log_path = options.work_dir + "/children.log";
  // The load signs its orders as a merchant would, with a key made through the store.
  const std::string master_key_hex = auth::RandomHex(auth::SecretBox::kKeyBytes);
  auth::NewMerchantKey key;
  {
    Result<std::unique_ptr<Store>> store = OpenStore(store_url);
    if (!store.ok()) return store.status();
    const int64_t now_ms = SystemClock()->NowMs();
    if (Status s = (*store)->CreateMerchant(kMerchantId, "load generator", now_ms); !s.ok()) {
      return s;
    }
    // Enough for every order at the largest face value.
    Result<int64_t> funded = (*store)->FundMerchant(
        kMerchantId, static_cast<int64_t>(options.orders) * PriceFenOfFaceValue(500), "scenario",
        now_ms);
    if (!funded.ok()) return funded.status();
    if (Status s = WriteFile(MasterKeyPath(options), master_key_hex); !s.ok()) return s;
    Result<auth::SecretBox> box = auth::SecretBox::FromHex(master_key_hex);
    if (!box.ok()) return box.status();
    Result<auth::NewMerchantKey> made = auth::CreateMerchantKey(**store, *box, kMerchantId, now_ms);
    if (!made.ok()) return made.status();
    key = std::move(*made);
  }

  // Ports are chosen up front: with callbacks, the simulator must know the nodes' addresses
  // before they start, and a restarted node comes back on its port.
  std::vector<uint16_t> ports;  // one per node
  for (int n = 0; n < options.nodes; ++n) {
    Result<uint16_t> port = process::PickFreePort();
    if (!port.ok()) return port.status();
    ports.push_back(*port);
  }
  std::vector<std::string> sim_args = {options.topup_binary,        "sim", "--port", "0", "--seed",
                                       std::to_string(options.seed)};
  sim_args.insert(sim_args.end(), options.sim_flags.begin(), options.sim_flags.end());
  std::string sim_ca_file;  // set when the simulator serves HTTPS
  if (options.supplier_tls) {
    Result<http::PrivateCaFiles> ca = http::MakePrivateCa(options.work_dir);
    if (!ca.ok()) return ca.status();
    sim_args.insert(sim_args.end(), {"--tls-cert", ca->cert_file, "--tls-key", ca->key_file});
    sim_ca_file = ca->ca_file;
  }
  if (options.sim_channels_config) {
    std::string path = options.work_dir + "/sim-channels.json";
    if (Status s = WriteFile(path, options.sim_channels_config(ports)); !s.ok()) return s;
    sim_args.insert(sim_args.end(), {"--channels-config", path});
  }
  Result<process::ChildProcess> sim = process::ChildProcess::Spawn(sim_args, log_path);
  if (!sim.ok()) return sim.status();
  Result<uint16_t> sim_port = sim->WaitForListening(Ms(30'000));
  if (!sim_port.ok()) return sim_port.status();

  std::string supplier_flag = (options.supplier_tls ? "https://127.0.0.1:" : "http://127.0.0.1:") +
                              std::to_string(*sim_port);
  if (options.serve_channels_config) {
    supplier_flag = options.work_dir + "/channels.json";
    if (Status s = WriteFile(supplier_flag, options.serve_channels_config(*sim_port)); !s.ok()) {
      return s;
    }
  }
  std::vector<process::ChildProcess> servers;
  for (size_t n = 0; n < ports.size(); ++n) {
    Result<process::ChildProcess> server =
        process::ChildProcess::Spawn(ServeArgs(options, store_url, supplier_flag, sim_ca_file,
                                               ports[n], "node" + std::to_string(n)),
                                     log_path);
    if (!server.ok()) return server.status();
    if (Result<uint16_t> listening = server->WaitForListening(Ms(30'000)); !listening.ok()) {
      return listening.status();
    }
    servers.push_back(std::move(*server));
  }

  std::shared_ptr<MerchantReceiver> receiver;
  if (options.notify) {
    Result<std::unique_ptr<MerchantReceiver>> started = MerchantReceiver::Start(
        {.key_id = key.key_id, .secret = key.secret, .faults = options.receiver_faults});
    if (!started.ok()) return started.status();
    receiver = std::move(*started);
    if (options.on_receiver) options.on_receiver(receiver);
  }

  SeededRandom random(options.seed);
  std::vector<std::string> bodies(static_cast<size_t>(options.orders));
  for (int i = 0; i < options.orders; ++i) {
    std::span<const int32_t> faces = SupportedFaceValuesYuan();
    json::object body{{"merchant_id", kMerchantId},
                      {"merchant_order_id", "mo-" + std::to_string(i)},
                      {"phone", RandomPhone(random)},
                      {"face_value", faces[random.NextBelow(faces.size())]}};
    if (receiver) body["notify_url"] = receiver->url();
    bodies[static_cast<size_t>(i)] = json::serialize(body);
  }

  Result<std::unique_ptr<Store>> store = OpenStore(store_url);
  if (!store.ok()) return store.status();
  // The final orders from before the run (a store filled for a benchmark holds many, without
  // notifications): CountOrders counts every order the store ever took.
  Result<OrderCounts> counts_before = (*store)->CountOrders();
  if (!counts_before.ok()) return counts_before.status();
  int64_t final_before = 0;
  for (auto [status, n] : *counts_before) final_before += IsFinal(status) ? n : 0;

  const auto start = SteadyClock::now();
  std::atomic<bool> load_done{false};
  MerchantLoad load(MerchantLoadOptions{.ports = ports,
                                        .lanes = options.connections,
                                        .rate_limit_per_s = options.rate_limit_per_s,
                                        .start = start,
                                        .deadline = start + Ms(options.load_max_ms),
                                        .key_id = key.key_id,
                                        .secret = key.secret},
                    bodies);
  LoadTally tally;
  std::thread load_thread([&] { tally = load.Run(); });

  ScenarioReport report;
  report.requested = options.orders;
  // The killer: stops node 0 mid-load and, if asked, starts it again on the same port, under a
  // new node id (each run of a node is a new lease owner).
  Status killer_status;
  Status fault_status;
  std::thread faulter([&] {
    if (!options.fault) return;
    std::this_thread::sleep_until(start + Ms(options.fault_after_ms));
    fault_status = options.fault();
  });
  std::thread killer([&] {
    for (int k = 0; k < options.serve_kills && !load_done; ++k) {
      std::this_thread::sleep_for(Ms(options.kill_interval_ms));
      if (load_done || !servers[0].running()) break;
      const auto stop_began = SteadyClock::now();
      const int wait_status = servers[0].Stop(options.stop_signal, Ms(120'000));
      report.stop_ms_max = std::max<int64_t>(
          report.stop_ms_max,
          std::chrono::duration_cast<Ms>(SteadyClock::now() - stop_began).count());
      report.stop_exit_codes.push_back(WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1);
      report.server_kills++;
      Result<int64_t> left =
          CountOpenLeasedBy(**store, k == 0 ? "node0" : "node0-" + std::to_string(k));
      if (!left.ok()) {
        killer_status = left.status();
        return;
      }
      report.leases_left_by_stopped += *left;
      if (!options.restart_killed) break;
      Result<process::ChildProcess> restarted =
          process::ChildProcess::Spawn(ServeArgs(options, store_url, supplier_flag, sim_ca_file,
                                                 ports[0], "node0-" + std::to_string(k + 1)),
                                       log_path);
      if (!restarted.ok()) {
        killer_status = restarted.status();
        return;
      }
      servers[0] = std::move(*restarted);
      Result<uint16_t> again = servers[0].WaitForListening(Ms(30'000));
      if (!again.ok()) {
        killer_status = again.status();
        return;
      }
    }
  });

  auto print_progress = [&](const char* phase) {
    if (options.progress == nullptr) return;
    Result<OrderCounts> counts = (*store)->CountOrders();
    if (!counts.ok()) return;
    auto count = [&](OrderStatus s) { return counts->count(s) ? counts->at(s) : 0; };
    int64_t open = count(OrderStatus::kAccepted) + count(OrderStatus::kCharging) +
                   count(OrderStatus::kUnknown);
    *options.progress << std::fixed << std::setprecision(1) << "[" << SecondsSince(start) << " s] "
                      << phase << ": acknowledged " << load.acknowledged() << "/" << options.orders
                      << ", open " << open << ", success " << count(OrderStatus::kSuccess)
                      << ", failed " << count(OrderStatus::kFailed) << ", unknown "
                      << count(OrderStatus::kUnknown) << std::endl;
  };
  // Progress while loading; the loaders stop by themselves (count and load_max_ms bound them).
  std::thread progress_thread([&] {
    while (!load_done) {
      for (int i = 0; i < 10 && !load_done; ++i) std::this_thread::sleep_for(Ms(100));
      if (!load_done) print_progress("loading");
    }
  });
  load_thread.join();
  report.load_s = SecondsSince(start);
  load_done = true;
  progress_thread.join();
  killer.join();
  faulter.join();
  if (!killer_status.ok()) return killer_status;
  if (!fault_status.ok()) return fault_status;

  // Wait, bounded, until every order in the store is final.
  const auto wait_deadline = SteadyClock::now() + Ms(options.wait_final_max_ms);
  auto last_progress = SteadyClock::now();
  while (SteadyClock::now() < wait_deadline) {
    Result<OrderCounts> counts = (*store)->CountOrders();
    if (!counts.ok()) return counts.status();
    int64_t open = 0;
    for (auto [status, n] : *counts) open += IsFinal(status) ? 0 : n;
    if (open == 0) break;
    if (SteadyClock::now() - last_progress >= Ms(1000)) {
      print_progress("finishing");
      last_progress = SteadyClock::now();
    }
    std::this_thread::sleep_for(Ms(50));
  }
  // Then, bounded, until every final order's notification is acknowledged (every order has a
  // notify_url, so there is one per final order).
  if (receiver) {
    const auto notified_deadline = SteadyClock::now() + Ms(options.wait_notified_max_ms);
    while (SteadyClock::now() < notified_deadline) {
      Result<OrderCounts> counts = (*store)->CountOrders();
      if (!counts.ok()) return counts.status();
      int64_t final_orders = -final_before;
      for (auto [status, n] : *counts) final_orders += IsFinal(status) ? n : 0;
      const int64_t acknowledged = receiver->acknowledged_distinct();
      if (acknowledged >= final_orders) break;
      if (SteadyClock::now() - last_progress >= Ms(1000) && options.progress != nullptr) {
        *options.progress << std::fixed << std::setprecision(1) << "[" << SecondsSince(start)
                          << " s] notifying: acknowledged " << acknowledged << "/" << final_orders
                          << std::endl;
        last_progress = SteadyClock::now();
      }
      std::this_thread::sleep_for(Ms(100));
    }
  }

  // Everything below reads what the processes left behind.
  Result<std::vector<std::string>> credited = FetchCreditedSupplierOrderIds(*sim_port, sim_ca_file);
  // Less the one connection of each of these two reads.
  const int64_t accepted = FetchSimConnectionsAccepted(*sim_port, sim_ca_file);
  report.sim_connections_accepted = accepted < 0 ? -1 : accepted - 2;
  if (report.server_kills == 0) {
    for (uint16_t port : ports) AddNodeFigures(port, &report);
  }
  for (int64_t* figure : {&report.store_write_calls, &report.store_order_writes,
                          &report.supplier_processing_answers, &report.handed_off}) {
    *figure = std::max<int64_t>(*figure, -1);
  }
  for (process::ChildProcess& server : servers) {
    report.server_cpu_s += server.CpuSeconds();
    report.server_peak_rss_bytes =
        std::max(report.server_peak_rss_bytes, server.PeakResidentBytes());
    server.Stop(SIGTERM);
  }
  report.sim_cpu_s = sim->CpuSeconds();
  sim->Stop(SIGTERM);
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  report.loadgen_cpu_s = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                         static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
  if (receiver) {
    // The merchant's side, not the load generator's.
    report.receiver_cpu_s = receiver->CpuSeconds();
    report.loadgen_cpu_s -= report.receiver_cpu_s;
  }
  if (!credited.ok()) return credited.status();

  std::map<std::string, int64_t> credits_per_order;
  for (const std::string& supplier_order_id : *credited) {
    std::optional<std::string> order_id = OrderIdOfSupplierOrderId(supplier_order_id);
    credits_per_order[order_id.value_or(supplier_order_id)]++;
  }
  report.credits = static_cast<int64_t>(credited->size());
  for (auto [order_id, n] : credits_per_order) report.double_credits += n > 1 ? 1 : 0;

  std::vector<int64_t> latencies_ms;
  std::vector<int64_t> first_attempt_waits_ms;
  int64_t first_created_ms = INT64_MAX, last_finished_ms = 0;
  // The history of every order: when its attempts started, and where.
  std::vector<std::pair<int64_t, std::string>> attempt_starts;  // (at_ms, channel)
  auto read_history = [&](const Order& order) {
    Result<std::vector<OrderEvent>> events = (*store)->ListEvents(order.order_id);
    if (!events.ok()) return std::vector<OrderEvent>();
    bool first = true;
    for (const OrderEvent& event : *events) {
      if (event.kind != "attempt_started") continue;
      if (first) first_attempt_waits_ms.push_back(event.at_ms - order.created_ms);
      first = false;
      attempt_starts.emplace_back(event.at_ms, ChannelOfAttemptStarted(event.detail));
    }
    return std::move(*events);
  };
  const ReceivedNotifications received = receiver ? receiver->Snapshot() : ReceivedNotifications();
  std::vector<int64_t> notify_latencies_ms;
  std::set<std::string> stored_ids;
  // The run's own orders: a store may hold others' from before (e.g. filled for a benchmark).
  OrderFilter own;
  own.merchant_id = kMerchantId;
  own.limit = 5'000;
  while (true) {
    Result<std::vector<Order>> page = (*store)->FindOrders(own);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (const Order& order : *page) {
      const std::vector<OrderEvent> events = read_history(order);
      stored_ids.insert(order.order_id);
      first_created_ms = std::min(first_created_ms, order.created_ms);
      bool credited_here = credits_per_order.count(order.order_id) > 0;
      if (order.status == OrderStatus::kSuccess) {
        report.succeeded++;
        if (!credited_here) report.successes_without_credit++;
      } else {
        if (credited_here) report.credits_on_unsuccessful++;
        if (order.status == OrderStatus::kFailed) report.failed_refunded++;
      }
      if (!IsFinal(order.status)) {
        report.still_open++;
        report.missed_deadline++;
        if (report.misses.size() < 100) report.misses.push_back(ExplainMiss(order, events));
        continue;
      }
      int64_t latency_ms = order.finished_ms - order.created_ms;
      latencies_ms.push_back(latency_ms);
      if (receiver) {
        auto acknowledged = received.first_acknowledged_ms.find(
            order.order_id + " " + std::string(OrderStatusName(order.status)));
        if (acknowledged == received.first_acknowledged_ms.end()) {
          report.notifications_missing++;
        } else {
          notify_latencies_ms.push_back(
              std::max<int64_t>(0, acknowledged->second - order.finished_ms));
        }
      }
      last_finished_ms = std::max(last_finished_ms, order.finished_ms);
      if (order.finished_ms > order.deadline_ms) {
        report.missed_deadline++;
        if (report.misses.size() < 100) report.misses.push_back(ExplainMiss(order, events));
      }
    }
    own.after_order_id = page->back().order_id;
  }
  report.orders_in_store = static_cast<int64_t>(stored_ids.size());
  {
    report.accepted = static_cast<int64_t>(tally.order_ids.size());
    report.rejected = tally.rejected;
    report.rejected_by_code = tally.rejected_by_code;
    for (const std::string& id : tally.order_ids) report.lost += stored_ids.count(id) ? 0 : 1;
  }
  report.not_acknowledged = tally.not_acknowledged;
  std::sort(latencies_ms.begin(), latencies_ms.end());
  report.latency_p50_ms = Percentile(latencies_ms, 0.50);
  report.latency_p95_ms = Percentile(latencies_ms, 0.95);
  report.latency_p99_ms = Percentile(latencies_ms, 0.99);
  report.latency_max_ms = latencies_ms.empty() ? 0 : latencies_ms.back();
  std::sort(first_attempt_waits_ms.begin(), first_attempt_waits_ms.end());
  report.first_attempt_p50_ms = Percentile(first_attempt_waits_ms, 0.50);
  report.first_attempt_p99_ms = Percentile(first_attempt_waits_ms, 0.99);
  report.first_attempt_max_ms = first_attempt_waits_ms.empty() ? 0 : first_attempt_waits_ms.back();
  for (const auto& [at_ms, channel] : attempt_starts) {
    std::vector<int64_t>& per_10s = report.attempts_per_10s[channel];
    const auto slot = static_cast<size_t>(std::max<int64_t>(0, at_ms - first_created_ms) / 10'000);
    if (per_10s.size() <= slot) per_10s.resize(slot + 1);
    per_10s[slot]++;
  }
  report.notify = options.notify;
  report.notifications_acknowledged = received.acknowledged;
  report.notifications_duplicated = received.duplicated;
  report.notification_bad_signatures = received.bad_signatures;
  report.receiver_failed = received.failed_on_purpose;
  report.receiver_hung = received.hung_on_purpose;
  report.receiver_connections = received.connections_accepted;
  std::sort(notify_latencies_ms.begin(), notify_latencies_ms.end());
  report.notify_latency_p50_ms = Percentile(notify_latencies_ms, 0.50);
  report.notify_latency_p99_ms = Percentile(notify_latencies_ms, 0.99);
  report.notify_latency_max_ms = notify_latencies_ms.empty() ? 0 : notify_latencies_ms.back();
  report.invalid_transitions_logged = CountInvalidTransitions(log_path);
  report.run_s = last_finished_ms > first_created_ms
                     ? static_cast<double>(last_finished_ms - first_created_ms) / 1000.0
                     : 0;
  report.accepted_per_s =
      report.load_s > 0 ? static_cast<double>(report.accepted) / report.load_s : 0;
  report.final_per_s =
      report.run_s > 0 ? static_cast<double>(latencies_ms.size()) / report.run_s : 0;
  report.share_final_within_deadline =
      report.orders_in_store > 0
          ? static_cast<double>(report.orders_in_store - report.missed_deadline) /
                static_cast<double>(report.orders_in_store)
          : 0;

  Result<LedgerAudit> audit = (*store)->AuditLedger();
  if (!audit.ok()) return audit.status();
  report.ledger_balanced = audit->balanced;
  report.ledger_problems = audit->problems;
  return report;
}

void PrintReport(const ScenarioReport& r, int64_t deadline_s, std::ostream& out) {
  out << std::fixed << std::setprecision(1);
  out << "orders requested        " << r.requested << "\n";
  out << "accepted                " << r.accepted << "   (" << r.accepted_per_s << " orders/s over "
      << r.load_s << " s)\n";
  if (r.rejected > 0) {
    out << "rejected                " << r.rejected << "  ";
    for (const auto& [code, n] : r.rejected_by_code) out << " " << code << "=" << n;
    out << "\n";
  }
  if (r.server_kills > 0) {
    out << "server stops            " << r.server_kills << "\n";
  }
  if (!r.stop_exit_codes.empty()) {
    out << "stop exit codes        ";
    for (int code : r.stop_exit_codes) out << " " << code;
    out << "   (longest stop " << r.stop_ms_max << " ms, leases left behind "
        << r.leases_left_by_stopped << ")\n";
  }
  out << "succeeded               " << r.succeeded << "\n";
  out << "failed and refunded     " << r.failed_refunded << "\n";
  out << "still open              " << r.still_open << "\n";
  out << "not acknowledged        " << r.not_acknowledged << "\n";
  out << "lost                    " << r.lost << "\n";
  out << "orders in store         " << r.orders_in_store << "\n";
  out << "end-to-end rate         " << r.final_per_s << " final orders/s over " << r.run_s
      << " s\n";
  out << "acceptance to final     p50 " << r.latency_p50_ms << " ms, p95 " << r.latency_p95_ms
      << " ms, p99 " << r.latency_p99_ms << " ms, max " << r.latency_max_ms << " ms\n";
  out << "first attempt after     p50 " << r.first_attempt_p50_ms << " ms, p99 "
      << r.first_attempt_p99_ms << " ms, max " << r.first_attempt_max_ms << " ms\n";
  if (r.attempts_per_10s.size() > 1) {
    for (const auto& [channel, per_10s] : r.attempts_per_10s) {
      out << "attempts per 10 s       " << channel << ":";
      for (int64_t n : per_10s) out << " " << n;
      out << "\n";
    }
  }
  out << std::setprecision(2) << "final within " << deadline_s << " s       "
      << 100.0 * r.share_final_within_deadline << " %\n";
  if (r.orders_in_store > 0) {
    double per_order_us = 1e6 / static_cast<double>(r.orders_in_store);
    out << std::setprecision(0) << "CPU per order           server "
        << r.server_cpu_s * per_order_us << " us, simulator " << r.sim_cpu_s * per_order_us
        << " us, load generator " << r.loadgen_cpu_s * per_order_us << " us";
    if (r.notify) out << ", merchant receiver " << r.receiver_cpu_s * per_order_us << " us";
    out << "\n"
        << "server peak memory      " << r.server_peak_rss_bytes / (1024 * 1024) << " MiB\n"
        << std::setprecision(2);
  }
  out << "supplier connections    " << r.sim_connections_accepted
      << "   (accepted by the simulator)\n";
  if (r.store_order_writes >= 0 && r.orders_in_store > 0) {
    const double orders = static_cast<double>(r.orders_in_store);
    out << "store writes per order  " << static_cast<double>(r.store_order_writes) / orders
        << " order rows in " << static_cast<double>(r.store_write_calls) / orders << " calls   ("
        << r.store_order_writes << " rows, " << r.store_write_calls << " calls)\n";
  }
  if (r.handed_off >= 0) {
    out << "handed off locally      " << r.handed_off << "   (the rest went through the queue)\n";
  }
  if (r.supplier_processing_answers >= 0 && r.orders_in_store > 0) {
    out << "processing answers      "
        << static_cast<double>(r.supplier_processing_answers) /
               static_cast<double>(r.orders_in_store)
        << " per order\n";
  }
  out << "supplier credits        " << r.credits << "\n";
  out << "double credits          " << r.double_credits << "\n";
  out << "credits on unsuccessful " << r.credits_on_unsuccessful << "\n";
  out << "successes w/o credit    " << r.successes_without_credit << "\n";
  out << "ledger balanced         " << (r.ledger_balanced ? "yes" : "NO: " + r.ledger_problems)
      << "\n";
  out << "invalid transitions     " << r.invalid_transitions_logged
      << "   (refused by the store)\n";
  if (r.notify) {
    out << "notifications acked     " << r.notifications_acknowledged << "   (receiver failed "
        << r.receiver_failed << ", hung " << r.receiver_hung << " on purpose)\n";
    out << "notifications missing   " << r.notifications_missing << "\n";
    out << "duplicate notifications " << r.notifications_duplicated
        << "   (at least once: dropped by order id + status)\n";
    out << "bad signatures          " << r.notification_bad_signatures << "\n";
    out << "receiver connections    " << r.receiver_connections
        << "   (kept alive between tries)\n";
    out << "final to notification   p50 " << r.notify_latency_p50_ms << " ms, p99 "
        << r.notify_latency_p99_ms << " ms, max " << r.notify_latency_max_ms << " ms\n";
  }
  for (const std::string& miss : r.misses) out << "missed deadline         " << miss << "\n";
  out << "verdict                 " << (r.Correct() ? "CORRECT" : "INCORRECT") << "\n";
}

}  // namespace topup::loadgen
