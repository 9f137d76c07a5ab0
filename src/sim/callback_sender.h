// CallbackSender: delivers the simulator's signed supplier callbacks from a small pool of
// threads, so that no I/O thread of the simulator ever waits on the service.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "topup/status.h"

namespace topup::sim {

// One place a callback can be POSTed to. Only 127.0.0.1 is accepted.
struct CallbackTarget {
  std::string host{};
  uint16_t port = 0;
  std::string target{};  // path (and query) sent in the request line
};

// Parses "http://127.0.0.1:PORT/path[,http://127.0.0.1:PORT/path...]". Whitespace around the
// commas is ignored. InvalidArgument("bad_callback_url") if any part is not of that form.
Result<std::vector<CallbackTarget>> ParseCallbackUrls(std::string_view urls);

// How deliveries of one channel ended; updated by the sender threads.
struct CallbackCounters {
  std::atomic<int64_t> sent{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> unknown_id{0};
  std::atomic<int64_t> dropped{0};
};

struct CallbackDelivery {
  // Both must outlive the sender (they belong to a channel of the simulator).
  const std::vector<CallbackTarget>* targets = nullptr;
  CallbackCounters* counters = nullptr;
  std::string body{};
  std::string signature_hex{};
};

struct CallbackSenderOptions {
  int threads = 2;
  size_t queue_max = 10'000;
  std::chrono::milliseconds timeout{2'000};  // one try at one target
  int max_retries = 3;
  std::chrono::milliseconds retry_backoff{50};  // doubles with each retry
};

class CallbackSender {
 public:
  explicit CallbackSender(const CallbackSenderOptions& options);
  // Stops.
  ~CallbackSender();
  CallbackSender(const CallbackSender&) = delete;
  CallbackSender& operator=(const CallbackSender&) = delete;

  // Starts the sender threads. Call once.
  void Start();
  // Never blocks beyond a short lock. When the queue is full or the sender stopped, the delivery
  // is dropped and counted in its counters.
  void Enqueue(CallbackDelivery delivery);
  // Drops what is queued, ends retry waits, joins the threads (a try in flight ends within
  // `timeout`). Idempotent.
  void Stop();

 private:
  void Run();
  void Deliver(const CallbackDelivery& delivery);
  // Waits `delay` unless stopped first. Returns false if stopped.
  bool WaitUnlessStopped(std::chrono::milliseconds delay);

  const CallbackSenderOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<CallbackDelivery> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;               // GUARDED_BY(mu_)
  // Started and joined by the owner's thread only.
  std::vector<std::thread> threads_;
};

}  // namespace topup::sim
