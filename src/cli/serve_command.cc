// topup serve: the merchant API, the workers and the sweeper in one process.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <optional>
#include <string_view>
#include <thread>

#include "api/admin_sessions.h"
#include "api/dashboard_routes.h"
#include "backends/backends.h"
#include "cli/archive_schedule.h"
#include "cli/commands.h"
#include "cli/master_key.h"
#include "cli/serve_routes.h"
#include "cli/service_manager.h"
#include "cli/shutdown_watchdog.h"
#include "cli/signals.h"
#include "config/config_file.h"
#include "core/duration_text.h"
#include "engine/engine.h"
#include "engine/http_supplier_channel.h"
#include "engine/supplier_callback_route.h"
#include "engine/supplier_callbacks.h"
#include "notify/notifier.h"
#include "observe/dashboard_sampler.h"
#include "observe/http_route.h"
#include "observe/log_setup.h"
#include "observe/metrics.h"
#include "observe/open_orders_gauges.h"
#include "observe/ops_endpoints.h"
#include "observe/process_figures.h"
#include "observe/readiness.h"
#include "process/open_files.h"

namespace topup::cli {
namespace {

struct ServeFlags {
  std::string store_url = "topup.db";
  std::string queue_url;
  std::string listen = "127.0.0.1";
  uint16_t port = 8080;
  int io_threads = 2;
  std::string supplier_url = "http://127.0.0.1:9090";
  std::string channels_path;
  // Seconds-slow suppliers need this many attempts in flight for a few thousand orders a second.
  int workers = 20'000;
  int api_threads = 8;
  int64_t deadline_s = 180;
  int64_t attempt_timeout_ms = 10'000;
  int64_t query_timeout_ms = 3'000;
  int64_t not_found_grace_ms = 20'000;
  int64_t lease_ms = 5'000;
  int32_t max_attempts = 10;
  std::string admin_token;
  std::string node_id;
  bool notify_allow_private = false;
  bool local_handoff = true;
  std::string notify_ca_file;
  int notify_in_flight = 256;
  int64_t notify_lease_ms = 30'000;
  std::string supplier_ca_file;
  std::string master_key_file;
  bool dev = false;
  int64_t max_clock_skew_s = 300;
  double merchant_rate_per_s = 0;
  double merchant_burst = 0;
  std::vector<std::string> merchant_rates;  // "id=rate[:burst]"
  size_t max_connections_per_address = 1024;
  std::string log_format = "text";
  std::string log_level = "info";
  std::string config_path;
  // The retention job: off unless archive_every is set.
  std::string archive_every;
  std::string archive_older_than = "30d";
  size_t archive_batch = 5000;
  // SIGTERM or SIGINT: the whole graceful stop takes at most this long.
  int64_t drain_timeout_s = 20;
};

// Of the stop bound, what is kept for recording the last answers, handing back the leases and
// closing the queue and the store, after the wait for the supplier's answers.
constexpr std::chrono::milliseconds kStopReserve{2'000};
// At most this long waiting for the merchant requests under way.
constexpr std::chrono::milliseconds kHttpDrainMax{5'000};
// Past the stop bound, the watchdog gives the process this much more before it ends it.
constexpr std::chrono::milliseconds kStopGrace{3'000};

// Parses "id=rate[:burst]" (requests per second, and the burst; the burst defaults to the rate).
bool ParseMerchantRate(const std::string& text, std::string* merchant_id, api::RateLimit* limit) {
  const size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0) return false;
  *merchant_id = text.substr(0, equals);
  const std::string numbers = text.substr(equals + 1);
  const size_t colon = numbers.find(':');
  char* end = nullptr;
  limit->rate_per_s = std::strtod(numbers.c_str(), &end);
  if (end == numbers.c_str() || limit->rate_per_s < 0) return false;
  limit->burst = limit->rate_per_s;
  if (colon != std::string::npos) {
    const char* burst = numbers.c_str() + colon + 1;
    limit->burst = std::strtod(burst, &end);
    if (end == burst || *end != '\0' || limit->burst < 0) return false;
  } else if (*end != '\0') {
    return false;
  }
  return true;
}

// Open files kept for everything but supplier connections: merchants, the store, the broker.
constexpr int64_t kReservedOpenFiles = 2'048;

// Open files left for supplier connections, shared by `channels` channels.
int64_t SupplierConnectionBudget(int64_t open_file_limit, size_t channels) {
  return std::max<int64_t>(64, (open_file_limit - kReservedOpenFiles) /
                                   static_cast<int64_t>(std::max<size_t>(1, channels)));
}

// Makes the supplier channels, each with at most `budget` connections.
ChannelFactory HttpChannelFactory(int64_t budget) {
  return [budget](const ChannelConfig& config) -> Result<std::unique_ptr<SupplierChannel>> {
    const auto connections =
        static_cast<size_t>(std::min<int64_t>(config.ConnectionLimit(), budget));
    Result<std::unique_ptr<HttpSupplierChannel>> channel =
        HttpSupplierChannel::Create(HttpSupplierChannelOptions{
            .name = config.name,
            .base_url = config.base_url,
            .attempt_timeout = std::chrono::milliseconds(config.attempt_timeout_ms),
            .query_timeout = std::chrono::milliseconds(config.query_timeout_ms),
            .client = {.max_connections = connections,
                       .max_idle_connections = connections,
                       .new_connections_per_s = static_cast<double>(config.new_connections_per_s),
                       .new_connection_burst = 256,
                       .tls = http::AsyncHttpClientOptions::Tls{.ca_file = config.ca_file}}});
    if (!channel.ok()) return channel.status();
    return std::unique_ptr<SupplierChannel>(std::move(*channel));
  };
}

// The --channels file, or else one channel at --supplier-url serving everything.
Result<RoutingConfig> LoadRouting(const ServeFlags& flags) {
  if (!flags.channels_path.empty()) return LoadRoutingConfig(flags.channels_path);
  RoutingConfig config;
  ChannelConfig channel;
  channel.name = "default";
  channel.base_url = flags.supplier_url;
  channel.max_concurrent_attempts = flags.workers;
  channel.attempt_timeout_ms = flags.attempt_timeout_ms;
  channel.query_timeout_ms = flags.query_timeout_ms;
  channel.ca_file = flags.supplier_ca_file;
  config.channels.push_back(channel);
  return config;
}

// The figures read at scrape time from the engine, the channels and the queue.
void AddEngineFigures(observe::Metrics* metrics, const Engine* engine, ChannelRouter* router,
                      Queue* queue) {
  using observe::Sample;
  const EngineCounters& counters = engine->counters();
  const std::pair<const char*, const std::atomic<int64_t>*> engine_counters[] = {
      {"claimed", &counters.claimed},
      {"submitted", &counters.submitted},
      {"queried", &counters.queried},
      {"cas_lost", &counters.cas_lost},
      {"swept", &counters.swept},
      {"store_errors", &counters.store_errors},
      {"lease_renewal_failures", &counters.lease_renewal_failures},
      {"polled_in_memory", &counters.polled_in_memory},
      {"handed_off", &counters.handed_off},
      {"waits_not_remembered", &counters.waits_not_remembered}};
  for (const auto& [name, counter] : engine_counters) {
    metrics->AddCounter(
        std::string("topup_engine_") + name + "_total",
        std::string("Engine: ") + name + " (see EngineCounters)", [counter] {
          return std::vector<Sample>{Sample{{}, static_cast<double>(counter->load())}};
        });
  }
  metrics->AddCounter(
      "topup_lease_expiries_total",
      "Leases that lapsed without being released (a node died or stalled holding the order), "
      "found by this node's sweeper",
      [&counters] {
        return std::vector<Sample>{Sample{{}, static_cast<double>(counters.lease_expiries.load())}};
      });
  metrics->AddGauge(
      "topup_channel_breaker_state",
      "Circuit breaker of each channel: 0 closed, 1 open, 2 half-open", [router] {
        std::vector<Sample> samples;
        const int64_t now_ms = SystemClock()->NowMs();
        for (const auto& channel : router->Channels()) {
          samples.push_back(Sample{{{"channel", channel->config().name}},
                                   static_cast<double>(channel->breaker().state(now_ms))});
        }
        return samples;
      });
  metrics->AddGauge(
      "topup_channel_attempt_limit",
      "Attempts each channel may have in flight at once (its configured limit)", [router] {
        std::vector<Sample> samples;
        for (const auto& channel : router->Channels()) {
          samples.push_back(Sample{{{"channel", channel->config().name}},
                                   static_cast<double>(channel->config().max_concurrent_attempts)});
        }
        return samples;
      });
  metrics->AddGauge("topup_channel_attempts_in_flight",
                    "Attempts of each channel sent and not answered", [router] {
                      std::vector<Sample> samples;
                      for (const auto& channel : router->Channels()) {
                        samples.push_back(Sample{{{"channel", channel->config().name}},
                                                 static_cast<double>(channel->in_flight())});
                      }
                      return samples;
                    });
  // Only what the backend can tell: a broker's figures would cost a round trip per scrape.
  if (queue->Figures().depth >= 0) {
    metrics->AddGauge("topup_queue_depth", "Order ids published and not yet received", [queue] {
      return std::vector<Sample>{Sample{{}, static_cast<double>(queue->Figures().depth)}};
    });
  }
  if (queue->Figures().redelivered >= 0) {
    metrics->AddCounter(
        "topup_queue_redelivered_total",
        "Deliveries given again after their consumer did not acknowledge them", [queue] {
          return std::vector<Sample>{Sample{{}, static_cast<double>(queue->Figures().redelivered)}};
        });
  }
}

// What the store has written, as counted by the store (Store::WriteCounts).
void AddStoreFigures(observe::Metrics* metrics, const Store* store) {
  using observe::Sample;
  metrics->AddCounter("topup_store_write_calls_total",
                      "Store calls that wrote orders (see StoreWriteCounts)", [store] {
                        return std::vector<Sample>{
                            Sample{{}, static_cast<double>(store->WriteCounts().write_calls)}};
                      });
  metrics->AddCounter("topup_store_order_writes_total",
                      "Order rows written by store calls, one per order per call", [store] {
                        return std::vector<Sample>{
                            Sample{{}, static_cast<double>(store->WriteCounts().order_writes)}};
                      });
}

// Not ready while a loop of the engine has made no progress for longer than its bound.
std::optional<std::string> EngineStuck(const Engine& engine) {
  const int64_t now_ms = SystemClock()->NowMs();
  for (const EngineLoopProgress& loop : engine.Progress()) {
    if (now_ms - loop.last_ms > loop.bound_ms) {
      return "engine: the " + std::string(loop.loop) + " loop made no progress for " +
             std::to_string((now_ms - loop.last_ms) / 1000) + " s";
    }
  }
  return std::nullopt;
}

int RunServe(const ServeFlags& flags) {
  Result<observe::LogFormat> log_format = observe::ParseLogFormat(flags.log_format);
  Result<spdlog::level::level_enum> log_level = observe::ParseLogLevel(flags.log_level);
  if (!log_format.ok() || !log_level.ok()) {
    std::cerr << "topup serve: "
              << (log_format.ok() ? log_level.status() : log_format.status()).message() << "\n";
    return 2;
  }
  observe::SetUpLogging("serve", *log_format, *log_level);
  BlockTerminationSignals();
  // First, so that it is destroyed last: it bounds the stop until the store is closed.
  ShutdownWatchdog watchdog;

  Result<auth::SecretBox> secret_box = LoadMasterKey(flags.master_key_file);
  if (!secret_box.ok() && flags.dev && secret_box.status().reason() == "no_master_key") {
    spdlog::warn(
        "--dev: an ephemeral master key; merchant keys made now stop working when this "
        "process ends, and keys made before cannot be read");
    secret_box = auth::SecretBox::Ephemeral();
  }
  if (!secret_box.ok()) {
    std::cerr << "topup serve: " << secret_box.status().message()
              << " (or --dev for an ephemeral one)\n";
    return 2;
  }
  Result<std::unique_ptr<Store>> store = OpenStore(flags.store_url);
  if (!store.ok()) {
    std::cerr << "topup serve: cannot open store " << observe::RedactUrlCredentials(flags.store_url)
              << ": " << observe::RedactUrlCredentials(store.status().ToString()) << "\n";
    return 1;
  }
  Result<RoutingConfig> routing = LoadRouting(flags);
  if (!routing.ok()) {
    std::cerr << "topup serve: " << routing.status().message() << "\n";
    return 2;
  }
  // Declared after the store, so destroyed (its run finished) before it.
  std::optional<ArchiveSchedule> archive_schedule;
  if (!flags.archive_every.empty()) {
    Result<int64_t> every_ms = ParseDurationMs(flags.archive_every);
    Status valid = every_ms.ok() ? MakeArchiveRequest(flags.archive_older_than, flags.archive_batch,
                                                      SystemClock()->NowMs())
                                       .status()
                                 : every_ms.status();
    if (!valid.ok()) {
      std::cerr << "topup serve: --archive-every/--archive-older-than/--archive-batch: "
                << valid.message() << "\n";
      return 2;
    }
    archive_schedule.emplace(**store, *every_ms, flags.archive_older_than, flags.archive_batch);
  }
  observe::Metrics metrics;
  observe::AddProcessFigures(&metrics);
  (*store)->SetCommitObserver([&metrics](size_t writes, std::chrono::microseconds took) {
    metrics.StoreCommitted(writes, took);
  });
  SeededRandom random(static_cast<uint64_t>(SystemClock()->NowMs()) ^
                      (static_cast<uint64_t>(getpid()) << 32));
  const int64_t open_file_limit = process::RaiseOpenFileLimit();
  const int64_t connection_budget =
      SupplierConnectionBudget(open_file_limit, routing->channels.size());
  Result<std::unique_ptr<ChannelRouter>> router =
      ChannelRouter::Create(std::move(*routing), HttpChannelFactory(connection_budget), &random);
  if (!router.ok()) {
    std::cerr << "topup serve: " << router.status().message() << "\n";
    return 2;
  }

  EngineOptions engine_options;
  engine_options.owner = flags.node_id.empty() ? "node-" + std::to_string(getpid()) + "-" +
                                                     std::to_string(random.NextBelow(1'000'000))
                                               : flags.node_id;
  Result<std::unique_ptr<Queue>> queue = OpenQueue(flags.queue_url, engine_options.owner);
  if (!queue.ok()) {
    std::cerr << "topup serve: cannot open queue " << observe::RedactUrlCredentials(flags.queue_url)
              << ": " << observe::RedactUrlCredentials(queue.status().ToString()) << "\n";
    return 1;
  }
  // An attempt in flight holds a connection; more attempts than connections would wait for one
  // and spend their timeout doing so.
  engine_options.max_in_flight = static_cast<int>(
      std::min<int64_t>(flags.workers, std::max<int64_t>(1, connection_budget - 64)));
  if (engine_options.max_in_flight < flags.workers) {
    spdlog::warn("--workers {} lowered to {}: the open-file limit is {}", flags.workers,
                 engine_options.max_in_flight, open_file_limit);
  }
  engine_options.lease_ms = flags.lease_ms;
  engine_options.policy.attempt_timeout_ms = flags.attempt_timeout_ms;
  engine_options.policy.not_found_grace_ms = flags.not_found_grace_ms;
  engine_options.policy.max_attempts = flags.max_attempts;
  engine_options.metrics = &metrics;
  engine_options.local_handoff = flags.local_handoff;
  Engine engine(store->get(), queue->get(), router->get(), SystemClock(), engine_options);
  AddEngineFigures(&metrics, &engine, router->get(), queue->get());
  AddStoreFigures(&metrics, store->get());
  observe::OpenOrdersGauges open_orders(store->get(), SystemClock(), &metrics);
  observe::Readiness readiness(SystemClock());
  readiness.AddProbe("store", [&store] { return (*store)->ProbeCommit(); });
  readiness.AddProbe("queue", [&queue] { return (*queue)->Probe(); });
  readiness.AddCondition([&engine] { return EngineStuck(engine); });
  const observe::OpsEndpoints ops(&metrics, &readiness);

  api::MerchantApiOptions api_options;
  api_options.deadline_ms = flags.deadline_s * 1000;
  api_options.redeliver_after_ms = engine_options.redeliver_after_ms;
  api_options.store_threads = static_cast<size_t>(flags.api_threads);
  api_options.notify_allow_private = flags.notify_allow_private;
  if (flags.local_handoff) {
    api_options.hand_off = [&engine](const Order& accepted) { return engine.HandOff(accepted); };
  }
  api_options.auth.max_skew_s = flags.max_clock_skew_s;
  api_options.merchant_rate = api::RateLimit{
      .rate_per_s = flags.merchant_rate_per_s,
      .burst = flags.merchant_burst > 0 ? flags.merchant_burst : flags.merchant_rate_per_s};
  for (const std::string& text : flags.merchant_rates) {
    std::string merchant_id;
    api::RateLimit limit;
    if (!ParseMerchantRate(text, &merchant_id, &limit)) {
      std::cerr << "topup serve: --merchant-rate wants ID=RATE[:BURST], got " << text << "\n";
      return 2;
    }
    api_options.merchant_rates[merchant_id] = limit;
  }
  api_options.metrics = &metrics;
  SupplierCallbacks callbacks(store->get(), router->get(), SystemClock(), engine_options.policy,
                              &metrics);
  SupplierCallbackRoute callback_route(&callbacks);
  api::MerchantApi merchant_api(store->get(), queue->get(), SystemClock(), &random, &*secret_box,
                                api_options);
  api::AdminSessions sessions(SystemClock());
  observe::DashboardSampler dashboard_sampler(store->get(), SystemClock(), &metrics);
  const api::DashboardRoutes dashboard(store->get(), SystemClock(), &dashboard_sampler, &metrics);
  api::AdminApi admin_api(store->get(), SystemClock(), &*secret_box,
                          api::AdminApiOptions{.admin_token = flags.admin_token,
                                               .key_revoked =
                                                   [&merchant_api](const std::string& key_id) {
                                                     merchant_api.ForgetKey(key_id);
                                                   },
                                               .sessions = &sessions,
                                               .dashboard = &dashboard});
  const api::AdminGate ui_gate(flags.admin_token, &sessions);
  api::UiRoutes ui(&ui_gate, &sessions);
  const http::Router routes = ServeRoutes(ServeHandlers{.ops = &ops,
                                                        .admin = &admin_api,
                                                        .callbacks = &callback_route,
                                                        .merchant = &merchant_api,
                                                        .ui = &ui});

  http::HttpServerOptions server_options;
  server_options.address = flags.listen;
  server_options.port = flags.port;
  server_options.io_threads = flags.io_threads;
  server_options.max_connections_per_address = flags.max_connections_per_address;
  server_options.route_of = observe::HttpRouteLabel;
  server_options.on_response = [&metrics](std::string_view route, int status,
                                          std::chrono::nanoseconds took) {
    metrics.HttpAnswered(route, status, took);
  };
  Result<std::unique_ptr<http::HttpServer>> server = http::HttpServer::Listen(
      server_options, [&routes](http::HttpRequest request, http::Responder respond) {
        routes.Handle(std::move(request), std::move(respond));
      });
  if (!server.ok()) {
    std::cerr << "topup serve: cannot listen on " << flags.listen << ":" << flags.port << ": "
              << server.status().ToString() << "\n";
    return 1;
  }
  notify::NotifierOptions notifier_options;
  notifier_options.owner = engine_options.owner;
  notifier_options.allow_private = flags.notify_allow_private;
  notifier_options.ca_file = flags.notify_ca_file;
  notifier_options.max_in_flight = static_cast<size_t>(flags.notify_in_flight);
  notifier_options.lease_ms = flags.notify_lease_ms;
  notifier_options.on_try = [&metrics](const notify::TryReport& report) {
    metrics.NotificationTried(report.outcome, report.gave_up, report.delivered_after_ms);
  };
  auto notifier = std::make_unique<notify::Notifier>(store->get(), SystemClock(), &*secret_box,
                                                     notifier_options);
  engine.Start();
  readiness.Start();
  (*server)->Start();
  std::cout << "listening on " << flags.listen << ":" << (*server)->port() << std::endl;
  spdlog::info(
      "serving as {} with store {} and queue {}", engine_options.owner,
      observe::RedactUrlCredentials(flags.store_url),
      flags.queue_url.empty() ? "embedded" : observe::RedactUrlCredentials(flags.queue_url));
  NotifyReady("serving as " + engine_options.owner);

  for (int signal_number = WaitForSignal(); signal_number == SIGHUP || signal_number == SIGUSR1;
       signal_number = WaitForSignal()) {
    if (signal_number == SIGUSR1) {
      observe::ChangeLogLevel(observe::NextLogLevel(spdlog::get_level()));
      continue;
    }
    // Reload: new channels and limits apply to new attempts; live attempts keep being queried on
    // the channel that has them.
    Result<RoutingConfig> reloaded = LoadRouting(flags);
    Status status = reloaded.ok() ? (*router)->Reload(std::move(*reloaded)) : reloaded.status();
    if (status.ok()) {
      spdlog::info("channel configuration reloaded");
    } else {
      spdlog::error("channel configuration not reloaded, keeping the old one: {}",
                    status.ToString());
    }
  }
  // The graceful stop, within the bound: no new request, the requests under way answered, no new
  // order taken up, the supplier's answers waited for, then recorded, the leases handed back, and
  // the queue and the store closed (the store's writer commits what is queued when destroyed).
  const std::chrono::milliseconds stop_bound = std::chrono::seconds(flags.drain_timeout_s);
  const auto stop_deadline = std::chrono::steady_clock::now() + stop_bound;
  auto left = [&stop_deadline] {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        stop_deadline - std::chrono::steady_clock::now()));
  };
  watchdog.Arm(stop_bound + kStopGrace);
  spdlog::info("stopping within {} s", flags.drain_timeout_s);
  NotifyStopping("stopping within " + std::to_string(flags.drain_timeout_s) + " s");
  if (!(*server)->Drain(std::min(kHttpDrainMax, left()))) {
    spdlog::warn("stopping: merchant requests still unanswered are cut");
  }
  (*server)->Stop();
  readiness.Stop();
  // The notifier finishes its tries (bounded by its try timeout) meanwhile.
  std::thread notifier_stop([&notifier] { notifier.reset(); });
  engine.Stop(std::max(std::chrono::milliseconds(0), left() - kStopReserve));
  notifier_stop.join();
  (*queue)->Close();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* serve = app.add_subcommand("serve", "Serve the merchant API and work the orders");
  serve
      ->add_option("--store,--db", flags->store_url,
                   "SQLite database file, or postgresql://user@host:port/db")
      ->capture_default_str();
  serve->add_option("--queue", flags->queue_url,
                    "redis://host:port or amqp://user:pass@host:port/vhost (default: embedded)");
  serve->add_option("--listen", flags->listen, "Address to listen on")->capture_default_str();
  serve->add_option("--port", flags->port, "Port (0 picks a free one)")->capture_default_str();
  serve->add_option("--io-threads", flags->io_threads, "HTTP I/O threads")->capture_default_str();
  serve
      ->add_option("--supplier-url", flags->supplier_url,
                   "Supplier channel base URL (http or https)")
      ->capture_default_str();
  serve->add_option("--supplier-ca-file", flags->supplier_ca_file,
                    "With an https --supplier-url: the CA to trust (default: the system's)");
  serve->add_option("--channels", flags->channels_path,
                    "Channel configuration file (JSON); replaces --supplier-url; reread on SIGHUP");
  serve->add_option("--workers", flags->workers, "Orders worked at once (supplier calls in flight)")
      ->check(CLI::Range(1, 200'000))
      ->capture_default_str();
  serve
      ->add_option("--api-threads", flags->api_threads,
                   "Threads making the API's blocking store calls (reads and admin calls)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  serve->add_option("--deadline-s", flags->deadline_s, "Promise: final within this long")
      ->check(CLI::Range(10, 86400))
      ->capture_default_str();
  serve->add_option("--attempt-timeout-ms", flags->attempt_timeout_ms, "Timeout of one submit")
      ->check(CLI::Range(100, 600'000))
      ->capture_default_str();
  serve->add_option("--query-timeout-ms", flags->query_timeout_ms, "Timeout of one query")
      ->check(CLI::Range(100, 600'000))
      ->capture_default_str();
  serve
      ->add_option("--not-found-grace-ms", flags->not_found_grace_ms,
                   "A not_found answer counts only for attempts sent longer ago than this")
      ->check(CLI::Range(0, 3'600'000))
      ->capture_default_str();
  serve->add_option("--lease-ms", flags->lease_ms, "Lease of a worker on an order")
      ->check(CLI::Range(500, 600'000))
      ->capture_default_str();
  serve->add_option("--max-attempts", flags->max_attempts, "Attempts per order at most")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  serve->add_option("--admin-token", flags->admin_token, "Enables /v1/admin with this bearer token")
      ->envname("TOPUP_ADMIN_TOKEN");
  serve->add_option("--node-id", flags->node_id, "Lease owner name (default: node-<pid>-<random>)");
  serve
      ->add_flag("--local-handoff,!--no-local-handoff", flags->local_handoff,
                 "On by default: give an accepted order to this process's engine when it has room, "
                 "not to the queue (which other nodes and the sweeper's redeliveries still use)")
      ->capture_default_str();
  serve->add_flag("--notify-allow-private", flags->notify_allow_private,
                  "Let notify_url reach loopback, private and link-local addresses (tests, demos)");
  serve->add_option("--notify-ca-file", flags->notify_ca_file,
                    "For https notify URLs: the CA to trust (default: the system's)");
  serve->add_option("--notify-in-flight", flags->notify_in_flight, "Notification tries at once")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  // Longer than a try's 5 s timeout, so a live node keeps what it is sending.
  serve
      ->add_option("--notify-lease-ms", flags->notify_lease_ms,
                   "How long a claimed notification stays this node's; a dead node's go to "
                   "another after it")
      ->check(CLI::Range(6'000, 3'600'000))
      ->capture_default_str();
  serve->add_option("--master-key-file", flags->master_key_file,
                    "File holding the master key (64 hex characters) that seals merchant key "
                    "secrets; default: the environment variable TOPUP_MASTER_KEY");
  serve->add_flag("--dev", flags->dev,
                  "Without a master key, make an ephemeral one (keys die with the process)");
  serve
      ->add_option("--max-clock-skew-s", flags->max_clock_skew_s,
                   "Signed requests are accepted this far from the server's clock")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve
      ->add_option("--merchant-rate-per-s", flags->merchant_rate_per_s,
                   "Signed requests per second per merchant, beyond which 429 (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve
      ->add_option("--merchant-burst", flags->merchant_burst,
                   "Requests a merchant may send at once (default: the rate)")
      ->check(CLI::NonNegativeNumber);
  serve->add_option("--merchant-rate", flags->merchant_rates,
                    "A merchant's own limit, ID=RATE[:BURST]; may be repeated");
  serve
      ->add_option("--max-connections-per-address", flags->max_connections_per_address,
                   "Open connections one client IP address may hold; more are closed at once")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  serve->add_option("--log-format", flags->log_format, "Log lines on stderr: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  serve
      ->add_option("--log-level", flags->log_level,
                   "trace, debug, info, warn, error, critical or off; SIGUSR1 cycles "
                   "info, debug, trace, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  serve
      ->add_option("--drain-timeout-s", flags->drain_timeout_s,
                   "On SIGTERM or SIGINT, stop within this long: requests under way answered, "
                   "supplier answers waited for (then cut: such attempts are queried later, never "
                   "resent), leases handed back")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
  serve->add_option("--archive-every", flags->archive_every,
                    "Run the retention job this often (e.g. 1h; off when empty): final orders "
                    "leave the hot tables for the archive (see topup archive)");
  serve
      ->add_option("--archive-older-than", flags->archive_older_than,
                   "The retention job archives final orders finished longer ago than this")
      ->capture_default_str();
  serve->add_option("--archive-batch", flags->archive_batch, "Orders the job moves per transaction")
      ->capture_default_str();
  serve->add_option("--config", flags->config_path,
                    "TOML file with any of these flags as keys (e.g. packaging/topup.toml); flags "
                    "given here win over it");
  serve->callback([flags, serve] {
    if (!flags->config_path.empty()) {
      Status applied = config::ApplyConfigFile(flags->config_path, serve, {"config"});
      if (!applied.ok()) {
        std::cerr << "topup serve: " << applied.message() << "\n";
        throw CLI::RuntimeError(2);
      }
    }
    if (int code = RunServe(*flags); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace topup::cli
