#include "queue/redis/redis_queue.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace topup {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Connections kept out of reach of receivers, so Publish and Ack never wait behind blocked reads.
constexpr size_t kConnectionsReservedForCommands = 4;
// Entries taken over per XAUTOCLAIM.
constexpr int kClaimBatch = 100;
// Deliveries handed out and not yet acknowledged that this process remembers. Beyond it the
// oldest are forgotten: their Ack does nothing and XAUTOCLAIM delivers them again later.
constexpr size_t kTrackedDeliveriesMax = 1 << 20;
// The stream entry field that holds the order id.
constexpr std::string_view kIdField = "id";
// How often the entries waiting for the group are counted, for Figures().
constexpr milliseconds kDepthRefresh{1'000};

struct RedisAddress {
  std::string host;
  int port = 6379;
  std::string user;
  std::string password;
  int db = 0;
};

bool ParseInt(std::string_view text, int min, int max, int* out) {
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return false;
  }
  *out = value;
  return true;
}

Result<RedisAddress> ParseRedisUrl(std::string_view url) {
  auto invalid = [&](std::string why) {
    return InvalidArgument("invalid_redis_url", "redis URL '" + std::string(url) + "': " + why);
  };
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return invalid("must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisAddress address;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      address.password = std::string(userinfo);
    } else {
      address.user = std::string(userinfo.substr(0, colon));
      address.password = std::string(userinfo.substr(colon + 1));
    }
  }
  std::string_view authority = rest;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !ParseInt(db, 0, 1'000'000, &address.db)) return invalid("bad db number");
  }
  if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    if (!ParseInt(authority.substr(colon + 1), 1, 65535, &address.port)) {
      return invalid("bad port");
    }
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) return invalid("no host");
  address.host = std::string(authority);
  return address;
}

timeval ToTimeval(milliseconds duration) {
  int64_t ms = std::max<int64_t>(duration.count(), 1);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

bool IsError(const Reply& reply, std::string_view prefix = {}) {
  return reply && reply->type == REDIS_REPLY_ERROR &&
         std::string_view(reply->str, reply->len).starts_with(prefix);
}

std::string_view StringOf(const redisReply* reply) {
  if (reply == nullptr) return {};
  if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS &&
      reply->type != REDIS_REPLY_ERROR) {
    return {};
  }
  return std::string_view(reply->str, reply->len);
}

// Queues one command in `c`'s output buffer, unsent. False when the connection failed.
bool AppendCommand(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  return redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data()) ==
         REDIS_OK;
}

// Sends one command and reads its reply. Null when the connection failed (c->err is set).
Reply RunCommand(redisContext* c, const std::vector<std::string>& args) {
  if (!AppendCommand(c, args)) return nullptr;
  void* reply = nullptr;
  if (redisGetReply(c, &reply) != REDIS_OK) return nullptr;
  return Reply(static_cast<redisReply*>(reply));
}

// Sends all commands in one write, then reads every reply. Empty when the connection failed.
std::vector<Reply> RunPipeline(redisContext* c, const std::vector<std::vector<std::string>>& cmds) {
  for (const std::vector<std::string>& args : cmds) {
    if (!AppendCommand(c, args)) return {};
  }
  std::vector<Reply> replies;
  replies.reserve(cmds.size());
  for (size_t i = 0; i < cmds.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(c, &reply) != REDIS_OK) return {};
    replies.emplace_back(static_cast<redisReply*>(reply));
  }
  return replies;
}

// One stream entry as read: its id, and the order id it carries (empty if it carries none).
struct StreamEntry {
  std::string entry_id;
  std::string order_id;
};

// Parses an array of [entry-id, [field, value, ...]] pairs as XREADGROUP and XAUTOCLAIM return.
void ParseEntries(const redisReply* entries, std::vector<StreamEntry>* out) {
  if (entries == nullptr || entries->type != REDIS_REPLY_ARRAY) return;
  for (size_t i = 0; i < entries->elements; ++i) {
    const redisReply* entry = entries->element[i];
    if (entry == nullptr || entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) continue;
    StreamEntry parsed;
    parsed.entry_id = std::string(StringOf(entry->element[0]));
    if (parsed.entry_id.empty()) continue;
    const redisReply* fields = entry->element[1];
    if (fields != nullptr && fields->type == REDIS_REPLY_ARRAY) {
      for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        if (StringOf(fields->element[f]) == kIdField) {
          parsed.order_id = std::string(StringOf(fields->element[f + 1]));
        }
      }
    }
    out->push_back(std::move(parsed));
  }
}

// The figures of one consumer group in an XINFO GROUPS reply (RESP2: for each group a flat
// array of names and values). `lag` is absent before Redis 7, and when Redis cannot tell it.
struct GroupInfo {
  int64_t pending = 0;         // delivered and not yet acknowledged
  std::optional<int64_t> lag;  // not yet delivered
};

// Empty if the reply holds no group of that name.
std::optional<GroupInfo> FindGroup(const redisReply* groups, std::string_view name) {
  if (groups == nullptr || groups->type != REDIS_REPLY_ARRAY) return std::nullopt;
  for (size_t g = 0; g < groups->elements; ++g) {
    const redisReply* group = groups->element[g];
    if (group == nullptr || group->type != REDIS_REPLY_ARRAY) continue;
    GroupInfo info;
    bool named = false;
    for (size_t f = 0; f + 1 < group->elements; f += 2) {
      const std::string_view field = StringOf(group->element[f]);
      const redisReply* value = group->element[f + 1];
      if (field == "name") named = StringOf(value) == name;
      if (value->type != REDIS_REPLY_INTEGER) continue;
      if (field == "pending") info.pending = value->integer;
      if (field == "lag") info.lag = value->integer;
    }
    if (named) return info;
  }
  return std::nullopt;
}

class RedisQueue final : public Queue {
 public:
  RedisQueue(RedisQueueOptions options, RedisAddress address)
      : options_(std::move(options)),
        address_(std::move(address)),
        backoff_(options_.backoff_min),
        wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

  ~RedisQueue() override {
    Close();
    if (depth_thread_.joinable()) depth_thread_.join();
    std::lock_guard lock(mu_);
    assert(in_use_.empty() && "RedisQueue destroyed while a call is in progress");
    for (redisContext* c : idle_) redisFree(c);
    idle_.clear();
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  // Connects once, creates the consumer group and counts what waits for it; then counts again
  // every kDepthRefresh on a thread of its own.
  Status Init() {
    if (wake_fd_ < 0) return Internal("eventfd failed");
    Result<Lease> lease = Acquire(Use::kCommand, Clock::now() + options_.command_timeout);
    if (!lease.ok()) return lease.status();
    Status status = EnsureGroup(lease->context);
    if (status.ok()) status = CountUndelivered(lease->context);
    Release(*lease, lease->context->err == 0);
    if (!status.ok()) return status;
    {
      std::lock_guard lock(mu_);
      opened_ = true;
    }
    depth_thread_ = std::thread([this] { CountUndeliveredUntilClosed(); });
    return Status::Ok();
  }

  Status Publish(std::span<const std::string> order_ids) override {
    if (order_ids.empty()) return IfOpen();
    std::vector<std::vector<std::string>> commands;
    commands.reserve(order_ids.size());
    const std::string max_len = std::to_string(options_.max_len);
    for (const std::string& id : order_ids) {
      commands.push_back(
          {"XADD", options_.stream, "MAXLEN", "~", max_len, "*", std::string(kIdField), id});
    }
    // A reused connection may have died with a server restart since it was last used: one retry
    // on a fresh connection. An XADD that was applied before the failure is then added twice,
    // which at-least-once delivery allows.
    Status status;
    for (int attempt = 0; attempt < 2; ++attempt) {
      Result<Lease> lease = Acquire(Use::kCommand, Clock::now() + options_.command_timeout);
      if (!lease.ok()) return lease.status();
      std::vector<Reply> replies = RunPipeline(lease->context, commands);
      if (replies.empty()) {
        status = ConnectionError(lease->context, "XADD");
        bool retry = !lease->fresh;
        Release(*lease, false);
        if (Status open = IfOpen(); !open.ok()) return open;
        if (retry) continue;
        return status;
      }
      Release(*lease, true);
      for (const Reply& reply : replies) {
        if (reply->type != REDIS_REPLY_STRING) {
          return Unavailable("redis_error", "XADD failed: " + std::string(StringOf(reply.get())));
        }
      }
      return Status::Ok();
    }
    return status;
  }

  Status Probe() override {
    if (Status open = IfOpen(); !open.ok()) return open;
    Result<Lease> lease = Acquire(Use::kCommand, Clock::now() + options_.command_timeout);
    if (!lease.ok()) return lease.status();
    Reply reply = RunCommand(lease->context, {"PING"});
    const bool answered = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
    Status status = answered ? Status::Ok() : ConnectionError(lease->context, "PING");
    Release(*lease, answered);
    return status;
  }

  // depth: the entries not yet delivered to the group at the last count (at most kDepthRefresh
  // ago), and those this process has taken over (XAUTOCLAIM) but not yet handed to a receiver.
  QueueFigures Figures() override {
    std::lock_guard lock(claim_mu_);
    return QueueFigures{.depth = undelivered_.load() + static_cast<int64_t>(reclaimed_.size()),
                        .redelivered = redelivered_.load()};
  }

  Result<std::vector<Delivery>> Receive(size_t max_count, milliseconds wait) override {
    const Clock::time_point deadline = Clock::now() + std::max(wait, milliseconds(0));
    if (Status open = IfOpen(); !open.ok()) return open;
    std::vector<Delivery> deliveries;
    if (max_count == 0) return deliveries;

    // Entries another consumer (or this one) was given long ago and never acknowledged.
    if (TakeReclaimed(max_count, &deliveries) > 0) return deliveries;
    if (ClaimDue()) {
      ReclaimIdleEntries(deadline);
      if (TakeReclaimed(max_count, &deliveries) > 0) return deliveries;
    }

    for (int attempt = 0; attempt < 2; ++attempt) {
      Result<Lease> lease = Acquire(Use::kReceive, deadline);
      if (!lease.ok()) break;
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      // Woken before the read: it takes what is there without waiting.
      if (TakeWake()) left = milliseconds(0);
      std::vector<std::string> args = {"XREADGROUP",      "GROUP", options_.group,
                                       options_.consumer, "COUNT", std::to_string(max_count)};
      if (left.count() > 0) {
        // BLOCK 0 would mean forever; the socket timeout covers the wait plus a round trip.
        args.insert(args.end(), {"BLOCK", std::to_string(left.count())});
        redisSetTimeout(lease->context, ToTimeval(left + options_.command_timeout));
      }
      args.insert(args.end(), {"STREAMS", options_.stream, ">"});
      Reply reply = left.count() > 0
                        ? RunWakeableRead(lease->context, args, left + options_.command_timeout)
                        : RunCommand(lease->context, args);
      if (!reply) {
        // Closed by Close(), or a dead server: a reused connection may just be stale.
        bool retry = !lease->fresh;
        Release(*lease, false);
        if (retry) continue;
        break;
      }
      redisSetTimeout(lease->context, ToTimeval(options_.command_timeout));
      if (IsError(reply, "NOGROUP")) {
        // The stream or the group is gone (Redis restarted without its data): make them again.
        Status created = EnsureGroup(lease->context);
        Release(*lease, lease->context->err == 0);
        if (!created.ok()) break;
        continue;
      }
      Release(*lease, true);
      if (IsError(reply)) {
        // LOADING: Redis restarted and is reading its data back; it answers in a moment.
        if (!IsError(reply, "LOADING")) spdlog::warn("redis XREADGROUP: {}", StringOf(reply.get()));
        break;
      }
      std::vector<StreamEntry> entries;
      if (reply->type == REDIS_REPLY_ARRAY) {
        for (size_t s = 0; s < reply->elements; ++s) {
          const redisReply* stream = reply->element[s];
          if (stream->type == REDIS_REPLY_ARRAY && stream->elements == 2) {
            ParseEntries(stream->element[1], &entries);
          }
        }
      }
      ToDeliveries(std::move(entries), &deliveries);
      return deliveries;
    }
    // Redis is unreachable, or every connection is busy: nothing this time. Wait out the rest of
    // the bound so that callers in a loop do not spin, unless Close() comes first.
    WaitUntil(deadline);
    if (Status open = IfOpen(); !open.ok()) return open;
    return deliveries;
  }

  Status Ack(std::span<const Delivery> deliveries) override {
    if (Status open = IfOpen(); !open.ok()) return open;
    std::vector<std::string> entry_ids;
    {
      std::lock_guard lock(tags_mu_);
      for (const Delivery& delivery : deliveries) {
        auto it = tracked_.find(delivery.tag);
        if (it == tracked_.end()) continue;  // forgotten, or acknowledged already
        entry_ids.push_back(std::move(it->second));
        tracked_.erase(it);
      }
    }
    if (entry_ids.empty()) return Status::Ok();
    return AckEntries(entry_ids);
  }

  void Close() override {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    // Wakes receivers blocked in XREADGROUP: their read fails at once. The contexts stay valid
    // until their users release them, so these descriptors are not reused meanwhile.
    for (redisContext* c : in_use_) shutdown(c->fd, SHUT_RDWR);
    cv_.notify_all();
  }

  void Wake() override {
    std::lock_guard lock(mu_);
    woken_ = true;
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    cv_.notify_all();
  }

 private:
  enum class Use { kCommand, kReceive };
  struct Lease {
    redisContext* context = nullptr;
    Use use = Use::kCommand;
    bool fresh = false;  // connected for this call
  };

  Status IfOpen() {
    std::lock_guard lock(mu_);
    if (closed_) return Unavailable("queue_closed", "the queue is closed");
    return Status::Ok();
  }

  // Consumes a Wake() not yet answered, if there is one.
  bool TakeWake() {
    std::lock_guard lock(mu_);
    if (!woken_) return false;
    woken_ = false;
    uint64_t count = 0;
    (void)!read(wake_fd_, &count, sizeof(count));
    return true;
  }

  // Sends a blocking read (XREADGROUP ... BLOCK) on `c` and waits for its reply. A Wake() meanwhile
  // ends Redis's wait (CLIENT UNBLOCK from another connection: the read answers as if its time
  // had run out, or with what it found), so the reply comes at once. Null when the connection
  // failed, was shut by Close(), or gave no reply within `bound`.
  Reply RunWakeableRead(redisContext* c, const std::vector<std::string>& args, milliseconds bound) {
    if (!AppendCommand(c, args)) return nullptr;
    for (int written = 0; written == 0;) {
      if (redisBufferWrite(c, &written) != REDIS_OK) return nullptr;
    }
    // Until the reply starts to arrive, the wait is on the socket or a wake, whichever comes
    // first; the socket's timeout then bounds the read of the reply.
    const Clock::time_point until = Clock::now() + bound;
    while (true) {
      const auto left = std::chrono::ceil<milliseconds>(until - Clock::now());
      if (left.count() <= 0) return nullptr;
      pollfd fds[2] = {{c->fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      const int ready = poll(fds, 2, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return nullptr;
      if (fds[0].revents != 0) break;
      if (TakeWake()) {
        UnblockRead(c);
        break;
      }
    }
    void* reply = nullptr;
    if (redisGetReply(c, &reply) != REDIS_OK) return nullptr;
    return Reply(static_cast<redisReply*>(reply));
  }

  // Ends the wait of the read sent on `c` (CLIENT UNBLOCK from another connection), so that its
  // reply comes at once. Redis may not have begun the read yet when it gets the UNBLOCK (another
  // connection's command can overtake it): while nothing was unblocked and no reply is there, it
  // tries again a few times. Best effort: where Redis refuses it (an ACL without CLIENT), the
  // read waits out its BLOCK time instead.
  void UnblockRead(redisContext* c) {
    constexpr int kTries = 5;
    constexpr int kReplyLookMs = 2;
    int64_t client_id = 0;
    {
      std::lock_guard lock(mu_);
      auto it = client_ids_.find(c);
      if (it != client_ids_.end()) client_id = it->second;
    }
    if (client_id == 0) return;
    for (int attempt = 0; attempt < kTries; ++attempt) {
      Result<Lease> lease = Acquire(Use::kCommand, Clock::now() + options_.command_timeout);
      if (!lease.ok()) return;
      Reply reply = RunCommand(lease->context, {"CLIENT", "UNBLOCK", std::to_string(client_id)});
      Release(*lease, reply != nullptr);
      if (reply == nullptr || reply->type != REDIS_REPLY_INTEGER || reply->integer == 1) return;
      pollfd fd = {c->fd, POLLIN, 0};
      if (poll(&fd, 1, kReplyLookMs) != 0) return;  // the reply (or an error) is there
    }
  }

  Status ConnectionError(redisContext* c, std::string_view command) {
    return Unavailable("redis_unavailable", std::string(command) + ": " +
                                                (c->errstr[0] != '\0' ? c->errstr : "I/O error"));
  }

  // Returns a connection for one call: an idle one, or a new one. Unavailable at once while Redis
  // is unreachable (between reconnect attempts); waits until `deadline` while every connection is
  // busy.
  Result<Lease> Acquire(Use use, Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    while (true) {
      if (closed_) return Unavailable("queue_closed", "the queue is closed");
      const bool receivers_full =
          use == Use::kReceive &&
          receivers_ + kConnectionsReservedForCommands >= options_.max_connections;
      if (!receivers_full && !idle_.empty()) {
        Lease lease{idle_.back(), use, false};
        idle_.pop_back();
        TakeLocked(lease);
        return lease;
      }
      if (!receivers_full && open_count_ < options_.max_connections) {
        const Clock::time_point now = Clock::now();
        if (down_ && (probing_ || now < next_connect_at_)) {
          return Unavailable("redis_unavailable", "Redis is unreachable; reconnecting");
        }
        if (down_) probing_ = true;
        open_count_++;
        if (use == Use::kReceive) receivers_++;
        lock.unlock();
        std::string error;
        int64_t client_id = 0;
        redisContext* c = Connect(&error, &client_id);
        lock.lock();
        probing_ = false;
        if (c == nullptr) {
          open_count_--;
          if (use == Use::kReceive) receivers_--;
          // Open() reports its own failure; later ones are logged once per outage.
          if (!down_ && opened_) {
            spdlog::warn("redis {}:{} unreachable ({}); reconnecting with backoff", address_.host,
                         address_.port, error);
          }
          down_ = true;
          next_connect_at_ = Clock::now() + backoff_;
          backoff_ = std::min(backoff_ * 2, options_.backoff_max);
          cv_.notify_all();
          return Unavailable("redis_unavailable", error);
        }
        if (down_) spdlog::info("redis {}:{} reachable again", address_.host, address_.port);
        down_ = false;
        backoff_ = options_.backoff_min;
        in_use_.insert(c);
        if (client_id != 0) client_ids_.emplace(c, client_id);
        if (closed_) {
          lock.unlock();
          Release(Lease{c, use, true}, false);
          return Unavailable("queue_closed", "the queue is closed");
        }
        return Lease{c, use, true};
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        return Unavailable("redis_busy", "every Redis connection is in use");
      }
    }
  }

  // REQUIRES: mu_ held; lease.context was taken from idle_.
  void TakeLocked(const Lease& lease) {
    in_use_.insert(lease.context);
    if (lease.use == Use::kReceive) receivers_++;
  }

  // Gives a connection back. A connection that failed is closed, and so are the idle ones: they
  // most likely lead to the same dead server.
  void Release(const Lease& lease, bool healthy) {
    std::vector<redisContext*> to_free;
    {
      std::lock_guard lock(mu_);
      in_use_.erase(lease.context);
      if (lease.use == Use::kReceive) receivers_--;
      if (healthy && !closed_) {
        idle_.push_back(lease.context);
      } else {
        to_free.push_back(lease.context);
        if (!healthy) {
          to_free.insert(to_free.end(), idle_.begin(), idle_.end());
          idle_.clear();
        }
        open_count_ -= to_free.size();
        for (redisContext* c : to_free) client_ids_.erase(c);
      }
    }
    cv_.notify_all();
    for (redisContext* c : to_free) redisFree(c);
  }

  // *client_id: the connection's CLIENT ID, for UnblockRead; 0 where Redis does not tell it.
  redisContext* Connect(std::string* error, int64_t* client_id) {
    redisContext* c = redisConnectWithTimeout(address_.host.c_str(), address_.port,
                                              ToTimeval(options_.connect_timeout));
    if (c == nullptr) {
      *error = "out of memory";
      return nullptr;
    }
    if (c->err != 0) {
      *error = c->errstr;
      redisFree(c);
      return nullptr;
    }
    redisSetTimeout(c, ToTimeval(options_.command_timeout));
    redisEnableKeepAlive(c);
    std::vector<std::vector<std::string>> setup;
    if (!address_.password.empty()) {
      if (address_.user.empty()) {
        setup.push_back({"AUTH", address_.password});
      } else {
        setup.push_back({"AUTH", address_.user, address_.password});
      }
    }
    if (address_.db != 0) setup.push_back({"SELECT", std::to_string(address_.db)});
    for (const std::vector<std::string>& command : setup) {
      Reply reply = RunCommand(c, command);
      if (!reply || IsError(reply)) {
        *error = reply ? std::string(StringOf(reply.get())) : std::string(c->errstr);
        redisFree(c);
        return nullptr;
      }
    }
    Reply id = RunCommand(c, {"CLIENT", "ID"});
    if (id != nullptr && id->type == REDIS_REPLY_INTEGER) *client_id = id->integer;
    return c;
  }

  // Creates the stream and the group if missing. A new group starts from the stream's first entry,
  // so nothing already in the stream is skipped (an entry delivered twice is harmless).
  Status EnsureGroup(redisContext* c) {
    Reply reply =
        RunCommand(c, {"XGROUP", "CREATE", options_.stream, options_.group, "0", "MKSTREAM"});
    if (!reply) return ConnectionError(c, "XGROUP CREATE");
    if (IsError(reply) && !IsError(reply, "BUSYGROUP")) {
      return Unavailable("redis_error", "XGROUP CREATE: " + std::string(StringOf(reply.get())));
    }
    return Status::Ok();
  }

  // Sets undelivered_ to the number of stream entries not yet delivered to the group: XINFO
  // GROUPS's lag. Where Redis cannot tell the lag (an entry at or after the group's last delivered
  // one was deleted, as an acknowledgement out of order does) and acknowledged entries are
  // deleted, the stream holds only unacknowledged entries: its length less the group's pending
  // ones. Otherwise the last count stands. A missing stream waits for nothing; a missing group
  // (made again from the stream's start when next read) waits for the whole stream.
  Status CountUndelivered(redisContext* c) {
    std::vector<Reply> replies =
        RunPipeline(c, {{"XINFO", "GROUPS", options_.stream}, {"XLEN", options_.stream}});
    if (replies.empty()) return ConnectionError(c, "XINFO GROUPS");
    const Reply& groups = replies[0];
    const Reply& length = replies[1];
    if (IsError(groups, "ERR no such key")) {
      undelivered_ = 0;
      return Status::Ok();
    }
    if (IsError(groups, "LOADING")) return Status::Ok();  // restarted: it answers in a moment
    if (IsError(groups) || length->type != REDIS_REPLY_INTEGER) {
      return Unavailable("redis_error",
                         "XINFO GROUPS, XLEN: " + std::string(StringOf(groups.get())) + " " +
                             std::string(StringOf(length.get())));
    }
    const std::optional<GroupInfo> group = FindGroup(groups.get(), options_.group);
    if (!group.has_value()) {
      undelivered_ = length->integer;
    } else if (group->lag.has_value()) {
      undelivered_ = *group->lag;
    } else if (options_.delete_on_ack) {
      undelivered_ = std::max<int64_t>(length->integer - group->pending, 0);
    }
    return Status::Ok();
  }

  // The depth thread: CountUndelivered every kDepthRefresh until Close(). While Redis is down the
  // last count stands.
  void CountUndeliveredUntilClosed() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, kDepthRefresh, [&] { return closed_; })) {
      lock.unlock();
      Result<Lease> lease = Acquire(Use::kCommand, Clock::now() + options_.command_timeout);
      if (lease.ok()) {
        Status counted = CountUndelivered(lease->context);
        if (!counted.ok() && lease->context->err == 0) {
          spdlog::warn("redis queue depth: {}", counted.ToString());
        }
        Release(*lease, lease->context->err == 0);
      }
      lock.lock();
    }
  }

  // Waits until `deadline`, Close() or a Wake() (which it consumes).
  void WaitUntil(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return closed_ || woken_; });
    lock.unlock();
    (void)TakeWake();
  }

  // True if it is time to look for idle pending entries, and this caller is the one to do it.
  bool ClaimDue() {
    std::lock_guard lock(claim_mu_);
    if (claiming_ || Clock::now() < next_claim_at_) return false;
    claiming_ = true;
    return true;
  }

  // REQUIRES: ClaimDue() returned true. Takes over up to kClaimBatch entries pending for longer
  // than min_idle, continuing the scan of the pending list where the last call left it.
  void ReclaimIdleEntries(Clock::time_point deadline) {
    std::string cursor;
    {
      std::lock_guard lock(claim_mu_);
      cursor = claim_cursor_;
    }
    std::vector<StreamEntry> entries;
    std::string next_cursor = "0-0";
    bool ok = false;
    Result<Lease> lease =
        Acquire(Use::kCommand, std::min(deadline, Clock::now() + options_.command_timeout));
    if (lease.ok()) {
      Reply reply =
          RunCommand(lease->context, {"XAUTOCLAIM", options_.stream, options_.group,
                                      options_.consumer, std::to_string(options_.min_idle.count()),
                                      cursor, "COUNT", std::to_string(kClaimBatch)});
      if (!reply) {
        Release(*lease, false);
      } else if (IsError(reply, "NOGROUP")) {
        (void)EnsureGroup(lease->context);
        Release(*lease, lease->context->err == 0);
      } else {
        Release(*lease, true);
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
          ok = true;
          next_cursor = std::string(StringOf(reply->element[0]));
          ParseEntries(reply->element[1], &entries);
        } else if (!IsError(reply, "LOADING")) {
          spdlog::warn("redis XAUTOCLAIM: {}", StringOf(reply.get()));
        }
      }
    }
    std::lock_guard lock(claim_mu_);
    claiming_ = false;
    const bool scan_done = !ok || next_cursor == "0-0" || next_cursor.empty();
    claim_cursor_ = scan_done ? "0-0" : next_cursor;
    // An unfinished scan may hold more to take over: the next caller continues at once.
    next_claim_at_ = Clock::now() + (scan_done ? options_.claim_interval : milliseconds(0));
    for (StreamEntry& entry : entries) reclaimed_.push_back(std::move(entry));
  }

  // Moves up to max_count reclaimed entries into *deliveries. Returns how many.
  size_t TakeReclaimed(size_t max_count, std::vector<Delivery>* deliveries) {
    std::vector<StreamEntry> taken;
    {
      std::lock_guard lock(claim_mu_);
      while (taken.size() < max_count && !reclaimed_.empty()) {
        taken.push_back(std::move(reclaimed_.front()));
        reclaimed_.pop_front();
      }
    }
    size_t count = taken.size();
    redelivered_ += static_cast<int64_t>(count);
    ToDeliveries(std::move(taken), deliveries);
    return count;
  }

  // Gives each entry a tag that Ack maps back to its entry id. Entries without an order id (not
  // written by Publish) are acknowledged and dropped.
  void ToDeliveries(std::vector<StreamEntry> entries, std::vector<Delivery>* deliveries) {
    std::vector<std::string> junk;
    {
      std::lock_guard lock(tags_mu_);
      for (StreamEntry& entry : entries) {
        if (entry.order_id.empty()) {
          junk.push_back(std::move(entry.entry_id));
          continue;
        }
        const uint64_t tag = next_tag_++;
        tracked_.emplace(tag, std::move(entry.entry_id));
        deliveries->push_back(Delivery{std::move(entry.order_id), tag});
      }
      while (tracked_.size() > kTrackedDeliveriesMax) tracked_.erase(tracked_.begin());
    }
    if (!junk.empty()) (void)AckEntries(junk);
  }

  Status AckEntries(const std::vector<std::string>& entry_ids) {
    std::vector<std::vector<std::string>> commands;
    std::vector<std::string> ack = {"XACK", options_.stream, options_.group};
    ack.insert(ack.end(), entry_ids.begin(), entry_ids.end());
    commands.push_back(std::move(ack));
    if (options_.delete_on_ack) {
      std::vector<std::string> del = {"XDEL", options_.stream};
      del.insert(del.end(), entry_ids.begin(), entry_ids.end());
      commands.push_back(std::move(del));
    }
    Status status;
    for (int attempt = 0; attempt < 2; ++attempt) {
      Result<Lease> lease = Acquire(Use::kCommand, Clock::now() + options_.command_timeout);
      if (!lease.ok()) return lease.status();
      std::vector<Reply> replies = RunPipeline(lease->context, commands);
      if (replies.empty()) {
        // Still pending in Redis: XAUTOCLAIM delivers them again after min_idle.
        status = ConnectionError(lease->context, "XACK");
        bool retry = !lease->fresh;
        Release(*lease, false);
        if (retry) continue;
        return status;
      }
      Release(*lease, true);
      for (const Reply& reply : replies) {
        if (IsError(reply)) {
          return Unavailable("redis_error", "XACK failed: " + std::string(StringOf(reply.get())));
        }
      }
      return Status::Ok();
    }
    return status;
  }

  const RedisQueueOptions options_;
  const RedisAddress address_;

  // The connection pool. GUARDED_BY(mu_) unless said otherwise.
  std::mutex mu_;
  std::condition_variable cv_;  // a connection came back, or Close()
  bool closed_ = false;
  bool opened_ = false;  // Init() succeeded
  std::vector<redisContext*> idle_;
  std::unordered_set<redisContext*> in_use_;
  size_t open_count_ = 0;  // idle + in use + being connected
  size_t receivers_ = 0;   // in use by Receive (or being connected for it)
  bool down_ = false;      // the last connect failed
  bool probing_ = false;   // a connect is being tried while down_
  Clock::time_point next_connect_at_{};
  milliseconds backoff_;
  // Each open connection's CLIENT ID, where Redis told it (for UnblockRead).
  std::unordered_map<redisContext*, int64_t> client_ids_;
  // A Wake() that no Receive has answered yet; wake_fd_ is readable meanwhile, for the poll of a
  // read under way.
  bool woken_ = false;
  const int wake_fd_;

  // Taking over idle pending entries. GUARDED_BY(claim_mu_).
  std::mutex claim_mu_;
  bool claiming_ = false;
  Clock::time_point next_claim_at_{};
  std::string claim_cursor_ = "0-0";
  std::deque<StreamEntry> reclaimed_;    // taken over, not yet handed out; at most kClaimBatch
  std::atomic<int64_t> redelivered_{0};  // reclaimed entries handed out again

  // Entries not yet delivered to the group, at the last count of depth_thread_.
  std::atomic<int64_t> undelivered_{0};
  std::thread depth_thread_;

  // Delivery tag -> stream entry id, for Ack. GUARDED_BY(tags_mu_).
  std::mutex tags_mu_;
  uint64_t next_tag_ = 1;
  std::map<uint64_t, std::string> tracked_;
};

}  // namespace

Result<std::unique_ptr<Queue>> OpenRedisQueue(const RedisQueueOptions& options) {
  Result<RedisAddress> address = ParseRedisUrl(options.url);
  if (!address.ok()) return address.status();
  if (options.stream.empty() || options.group.empty() || options.consumer.empty()) {
    return InvalidArgument("invalid_redis_queue", "stream, group and consumer must be set");
  }
  if (options.max_len <= 0 || options.max_connections <= kConnectionsReservedForCommands ||
      options.min_idle.count() <= 0 || options.backoff_min.count() <= 0 ||
      options.backoff_max < options.backoff_min) {
    return InvalidArgument("invalid_redis_queue", "max_len, max_connections, min_idle or backoff");
  }
  auto queue = std::make_unique<RedisQueue>(options, std::move(*address));
  if (Status init = queue->Init(); !init.ok()) return init;
  return std::unique_ptr<Queue>(std::move(queue));
}

}  // namespace topup
