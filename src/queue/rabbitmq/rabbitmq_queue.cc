#include "queue/rabbitmq/rabbitmq_queue.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

namespace topup {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr amqp_channel_t kChannel = 1;
// Ids per burst of publishes whose confirms are awaited before the next burst.
constexpr size_t kPublishChunk = 512;
// A delivery's tag carries the consuming connection's generation above the broker's delivery tag,
// so an acknowledgement meant for a connection that has since been replaced is recognised and
// dropped (the broker has already put that delivery back).
constexpr int kGenerationShift = 48;
constexpr uint64_t kDeliveryTagMask = (uint64_t{1} << kGenerationShift) - 1;
// How long the consuming thread sleeps in poll() at most, so heartbeats are sent and checked.
constexpr milliseconds kConsumerPoll{500};
// How often the consuming thread asks the broker how many messages are ready (for Figures()).
constexpr milliseconds kDepthRefresh{1'000};

struct AmqpAddress {
  std::string host;
  int port = 5672;
  std::string user;
  std::string password;
  std::string vhost;
};

Result<AmqpAddress> ParseAmqpUrl(const std::string& url) {
  if (!url.starts_with("amqp://")) {
    return InvalidArgument("invalid_amqp_url", "AMQP URL '" + url + "' must start with amqp://");
  }
  std::string buffer = url;  // amqp_parse_url decodes in place and points into it
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK) {
    return InvalidArgument("invalid_amqp_url", "AMQP URL '" + url + "' is malformed");
  }
  return AmqpAddress{info.host, info.port, info.user, info.password, info.vhost};
}

timeval ToTimeval(milliseconds duration) {
  int64_t ms = std::max<int64_t>(duration.count(), 0);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

std::string Text(amqp_bytes_t bytes) {
  return std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

std::string Describe(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* close = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        return "broker closed the connection: " + std::to_string(close->reply_code) + " " +
               Text(close->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        return "broker closed the channel: " + std::to_string(close->reply_code) + " " +
               Text(close->reply_text);
      }
      return "unexpected method from the broker";
  }
  return "unknown reply";
}

Status Failed(std::string_view what, const amqp_rpc_reply_t& reply) {
  return Unavailable("amqp_error", std::string(what) + ": " + Describe(reply));
}

enum class QueueType { kUnknown, kQuorum, kClassic };

// One AMQP connection with channel kChannel open. Not thread-safe: one owner at a time.
class AmqpConnection {
 public:
  static Result<std::unique_ptr<AmqpConnection>> Open(const AmqpAddress& address,
                                                      const RabbitMqQueueOptions& options,
                                                      int heartbeat_s) {
    std::unique_ptr<AmqpConnection> connection(new AmqpConnection(amqp_new_connection()));
    amqp_connection_state_t c = connection->state_;
    amqp_socket_t* socket = amqp_tcp_socket_new(c);
    if (socket == nullptr) return Unavailable("amqp_error", "cannot create a socket");
    timeval connect_timeout = ToTimeval(options.connect_timeout);
    timeval rpc_timeout = ToTimeval(options.rpc_timeout);
    amqp_set_handshake_timeout(c, &connect_timeout);
    amqp_set_rpc_timeout(c, &rpc_timeout);
    int opened =
        amqp_socket_open_noblock(socket, address.host.c_str(), address.port, &connect_timeout);
    if (opened != AMQP_STATUS_OK) {
      return Unavailable("amqp_unavailable", "connect to " + address.host + ":" +
                                                 std::to_string(address.port) + ": " +
                                                 amqp_error_string2(opened));
    }
    amqp_rpc_reply_t login =
        amqp_login(c, address.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE, heartbeat_s,
                   AMQP_SASL_METHOD_PLAIN, address.user.c_str(), address.password.c_str());
    if (login.reply_type != AMQP_RESPONSE_NORMAL) return Failed("login", login);
    connection->logged_in_ = true;
    if (Status open = connection->OpenChannel(); !open.ok()) return open;
    return connection;
  }

  ~AmqpConnection() {
    if (logged_in_ && !broken_) {
      // Bounded by the RPC timeout. The broker puts back what this connection did not
      // acknowledge whether or not the close handshake completes.
      amqp_channel_close(state_, kChannel, AMQP_REPLY_SUCCESS);
      amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(state_);
  }

  amqp_connection_state_t state() const { return state_; }
  // The connection is unusable: the destructor skips the close handshake.
  void MarkBroken() { broken_ = true; }

  // Declares the durable queue: a quorum queue unless *type says classic or the broker refuses
  // it, in which case *type becomes classic. Stores in *ready the messages ready in the queue.
  Status DeclareQueue(const std::string& queue, std::atomic<QueueType>* type,
                      std::atomic<int64_t>* ready) {
    if (type->load() != QueueType::kClassic) {
      amqp_table_entry_t entry;
      entry.key = amqp_cstring_bytes("x-queue-type");
      entry.value.kind = AMQP_FIELD_KIND_UTF8;
      entry.value.value.bytes = amqp_cstring_bytes("quorum");
      amqp_table_t arguments{1, &entry};
      const amqp_queue_declare_ok_t* declared = amqp_queue_declare(
          state_, kChannel, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0, arguments);
      amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_);
      if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
        type->store(QueueType::kQuorum);
        if (declared != nullptr) ready->store(declared->message_count);
        return Status::Ok();
      }
      if (reply.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION ||
          reply.reply.id != AMQP_CHANNEL_CLOSE_METHOD) {
        return Failed("declare quorum queue " + queue, reply);
      }
      spdlog::warn("RabbitMQ refused quorum queue {} ({}); using a classic durable queue", queue,
                   Describe(reply));
      // The broker closed the channel: confirm, and open it again.
      amqp_channel_close_ok_t close_ok{};
      if (amqp_send_method(state_, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok) !=
          AMQP_STATUS_OK) {
        return Unavailable("amqp_error", "channel.close-ok could not be sent");
      }
      if (Status open = OpenChannel(); !open.ok()) return open;
    }
    const amqp_queue_declare_ok_t* declared = amqp_queue_declare(
        state_, kChannel, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0, amqp_empty_table);
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) return Failed("declare queue " + queue, reply);
    type->store(QueueType::kClassic);
    if (declared != nullptr) ready->store(declared->message_count);
    return Status::Ok();
  }

  // Asks how many messages are ready in the queue (a passive declare: one round trip) and stores
  // the answer in *ready. Deliveries that arrive meanwhile are kept by rabbitmq-c for the next
  // amqp_consume_message.
  Status CountReady(const std::string& queue, std::atomic<int64_t>* ready) {
    const amqp_queue_declare_ok_t* declared = amqp_queue_declare(
        state_, kChannel, amqp_cstring_bytes(queue.c_str()), 1, 0, 0, 0, amqp_empty_table);
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) return Failed("count queue " + queue, reply);
    if (declared != nullptr) ready->store(declared->message_count);
    return Status::Ok();
  }

 private:
  explicit AmqpConnection(amqp_connection_state_t state) : state_(state) {}

  Status OpenChannel() {
    amqp_channel_open(state_, kChannel);
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) return Failed("open channel", reply);
    return Status::Ok();
  }

  amqp_connection_state_t state_;
  bool logged_in_ = false;
  bool broken_ = false;
};

// Exponential backoff between connection attempts.
class Backoff {
 public:
  Backoff(milliseconds min, milliseconds max) : min_(min), max_(max), next_(min) {}
  bool Ready(Clock::time_point now) const { return now >= not_before_; }
  Clock::time_point not_before() const { return not_before_; }
  // Returns true if this failure follows a success (worth logging).
  bool Failed(Clock::time_point now) {
    not_before_ = now + next_;
    next_ = std::min(next_ * 2, max_);
    return std::exchange(healthy_, false);
  }
  // Returns true if this success follows a failure.
  bool Succeeded() {
    next_ = min_;
    not_before_ = {};
    return !std::exchange(healthy_, true);
  }

 private:
  const milliseconds min_, max_;
  milliseconds next_;
  Clock::time_point not_before_{};
  bool healthy_ = true;
};

class RabbitMqQueue final : public Queue {
 public:
  RabbitMqQueue(RabbitMqQueueOptions options, AmqpAddress address)
      : options_(std::move(options)),
        address_(std::move(address)),
        publish_backoff_(options_.backoff_min, options_.backoff_max),
        consume_backoff_(options_.backoff_min, options_.backoff_max),
        wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

  ~RabbitMqQueue() override {
    Close();
    publisher_.reset();
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  // Connects both connections once, so a wrong URL, credentials or queue fail here.
  Status Init() {
    if (wake_fd_ < 0) return Internal("eventfd failed");
    if (Status connected = ConnectPublisher(); !connected.ok()) return connected;
    Result<std::unique_ptr<AmqpConnection>> consumer = ConnectConsumer();
    if (!consumer.ok()) return consumer.status();
    generation_ = 1;
    consumer_thread_ =
        std::thread([this, c = std::move(*consumer)]() mutable { ConsumerLoop(std::move(c)); });
    opened_.store(true);
    return Status::Ok();
  }

  // Concurrent callers join one batch; whoever finds no publish in progress sends the open batch
  // (its own ids and everybody else's) and waits for its confirms while the next batch fills.
  Status Publish(std::span<const std::string> order_ids) override {
    std::unique_lock lock(publish_mu_);
    if (closed_.load()) return Unavailable("queue_closed", "the queue is closed");
    if (order_ids.empty()) return Status::Ok();
    if (!open_batch_) open_batch_ = std::make_shared<PublishBatch>();
    std::shared_ptr<PublishBatch> mine = open_batch_;
    mine->ids.insert(mine->ids.end(), order_ids.begin(), order_ids.end());
    while (!mine->done) {
      if (publishing_) {
        publish_cv_.wait(lock);
        continue;
      }
      publishing_ = true;
      std::shared_ptr<PublishBatch> batch = std::exchange(open_batch_, nullptr);
      lock.unlock();
      Status status = PublishNow(batch->ids);
      lock.lock();
      batch->status = std::move(status);
      batch->done = true;
      publishing_ = false;
      publish_cv_.notify_all();
    }
    return mine->status;
  }

  Result<std::vector<Delivery>> Receive(size_t max_count, milliseconds wait) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [&] { return closed_.load() || receiver_woken_ || !buffer_.empty(); });
    receiver_woken_ = false;
    if (closed_.load()) return Unavailable("queue_closed", "the queue is closed");
    std::vector<Delivery> deliveries;
    while (deliveries.size() < max_count && !buffer_.empty()) {
      deliveries.push_back(std::move(buffer_.front()));
      buffer_.pop_front();
    }
    return deliveries;
  }

  // Hands the acknowledgements to the consuming thread, which sends them at once. OK does not
  // mean the broker has them: one lost with the connection only makes the delivery come again.
  Status Ack(std::span<const Delivery> deliveries) override {
    {
      std::lock_guard lock(mu_);
      if (closed_.load()) return Unavailable("queue_closed", "the queue is closed");
      for (const Delivery& delivery : deliveries) {
        if ((delivery.tag >> kGenerationShift) != (generation_ & 0xFFFF)) continue;
        uint64_t tag = delivery.tag & kDeliveryTagMask;
        // The broker closes the channel on an unknown or repeated tag: only send known ones.
        if (unacked_.erase(tag) > 0) acks_.push_back(tag);
      }
    }
    WakeConsumer();
    return Status::Ok();
  }

  void Wake() override {
    {
      std::lock_guard lock(mu_);
      receiver_woken_ = true;
    }
    cv_.notify_all();
  }

  // depth: what the broker had ready at its last count (at most kDepthRefresh ago), and what
  // this process has taken from it but not yet handed to a receiver.
  QueueFigures Figures() override {
    std::lock_guard lock(mu_);
    return QueueFigures{.depth = broker_ready_.load() + static_cast<int64_t>(buffer_.size()),
                        .redelivered = redelivered_.load()};
  }

  void Close() override {
    {
      std::lock_guard lock(mu_);
      closed_.store(true);
    }
    cv_.notify_all();
    WakeConsumer();
    std::lock_guard lock(close_mu_);
    if (consumer_thread_.joinable()) consumer_thread_.join();
  }

 private:
  struct PublishBatch {
    std::vector<std::string> ids;
    bool done = false;
    Status status;
  };

  void WakeConsumer() {
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }

  // REQUIRES: publishing_ (this thread owns publisher_).
  Status ConnectPublisher() {
    const Clock::time_point now = Clock::now();
    if (!publish_backoff_.Ready(now)) {
      return Unavailable("amqp_unavailable", "RabbitMQ is unreachable; reconnecting");
    }
    Result<std::unique_ptr<AmqpConnection>> connection =
        AmqpConnection::Open(address_, options_, 0);
    Status status = connection.ok() ? Status::Ok() : connection.status();
    if (status.ok())
      status = (*connection)->DeclareQueue(options_.queue, &queue_type_, &broker_ready_);
    if (status.ok()) {
      amqp_confirm_select((*connection)->state(), kChannel);
      amqp_rpc_reply_t reply = amqp_get_rpc_reply((*connection)->state());
      if (reply.reply_type != AMQP_RESPONSE_NORMAL) status = Failed("confirm.select", reply);
    }
    if (!status.ok()) {
      // Open() reports its own failure; later ones are logged once per outage.
      if (publish_backoff_.Failed(Clock::now()) && opened_.load()) {
        spdlog::warn("RabbitMQ publishing connection failed ({}); reconnecting with backoff",
                     status.ToString());
      }
      return status;
    }
    if (publish_backoff_.Succeeded()) spdlog::info("RabbitMQ publishing connection is back");
    publisher_ = std::move(*connection);
    next_publish_seq_ = 1;
    return Status::Ok();
  }

  // REQUIRES: publishing_. Publishes persistent messages and waits for their confirms, a chunk at
  // a time. A connection that was already open may have died unnoticed (heartbeats are off on
  // this connection): a failure there is retried once on a new connection. Ids may then reach
  // the queue twice, which at-least-once delivery allows.
  Status PublishNow(const std::vector<std::string>& ids) {
    for (int attempt = 0;; ++attempt) {
      bool fresh = false;
      if (!publisher_) {
        if (Status connected = ConnectPublisher(); !connected.ok()) return connected;
        fresh = true;
      }
      Status status = Status::Ok();
      for (size_t begin = 0; begin < ids.size() && status.ok(); begin += kPublishChunk) {
        size_t end = std::min(ids.size(), begin + kPublishChunk);
        status = PublishChunk(std::span<const std::string>(ids).subspan(begin, end - begin));
      }
      if (status.ok() || fresh || attempt > 0 || closed_.load()) return status;
    }
  }

  // REQUIRES: publishing_ and publisher_. On failure the connection is dropped.
  Status PublishChunk(std::span<const std::string> ids) {
    amqp_connection_state_t c = publisher_->state();
    amqp_basic_properties_t properties{};
    properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    properties.content_type = amqp_cstring_bytes("text/plain");
    std::set<uint64_t> outstanding;
    for (const std::string& id : ids) {
      amqp_bytes_t body{id.size(), const_cast<char*>(id.data())};
      // Mandatory: a message no queue takes comes back (basic.return) instead of vanishing.
      int sent =
          amqp_basic_publish(c, kChannel, amqp_empty_bytes,
                             amqp_cstring_bytes(options_.queue.c_str()), 1, 0, &properties, body);
      if (sent != AMQP_STATUS_OK) {
        return DropPublisher("publish: " + std::string(amqp_error_string2(sent)));
      }
      outstanding.insert(next_publish_seq_++);
    }
    bool nacked = false;
    bool returned = false;
    const Clock::time_point deadline = Clock::now() + options_.confirm_timeout;
    while (!outstanding.empty()) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        return DropPublisher(std::to_string(outstanding.size()) + " publishes unconfirmed after " +
                             std::to_string(options_.confirm_timeout.count()) + " ms");
      }
      timeval tv = ToTimeval(left);
      amqp_frame_t frame;
      int got = amqp_simple_wait_frame_noblock(c, &frame, &tv);
      if (got == AMQP_STATUS_TIMEOUT) continue;
      if (got != AMQP_STATUS_OK) {
        return DropPublisher("waiting for confirms: " + std::string(amqp_error_string2(got)));
      }
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
          auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
          Confirm(ack->delivery_tag, ack->multiple != 0, &outstanding);
          break;
        }
        case AMQP_BASIC_NACK_METHOD: {
          auto* nack = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
          Confirm(nack->delivery_tag, nack->multiple != 0, &outstanding);
          nacked = true;
          break;
        }
        case AMQP_BASIC_RETURN_METHOD: {
          // Its content frames follow; its confirm comes after them.
          amqp_message_t message;
          amqp_rpc_reply_t read = amqp_read_message(c, frame.channel, &message, 0);
          if (read.reply_type != AMQP_RESPONSE_NORMAL) {
            return DropPublisher("reading a returned message: " + Describe(read));
          }
          amqp_destroy_message(&message);
          returned = true;
          break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD: {
          amqp_rpc_reply_t reply{};
          reply.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION;
          reply.reply = frame.payload.method;
          return DropPublisher(Describe(reply));
        }
        default:
          break;
      }
      amqp_maybe_release_buffers(c);
    }
    if (returned) {
      // The queue is gone (deleted by hand?): a new connection declares it again.
      return DropPublisher("the broker returned messages: no queue " + options_.queue);
    }
    if (nacked) return Unavailable("amqp_nack", "the broker did not take some ids");
    return Status::Ok();
  }

  static void Confirm(uint64_t tag, bool multiple, std::set<uint64_t>* outstanding) {
    if (multiple) {
      outstanding->erase(outstanding->begin(), outstanding->upper_bound(tag));
    } else {
      outstanding->erase(tag);
    }
  }

  Status DropPublisher(std::string why) {
    spdlog::warn("RabbitMQ publishing connection dropped: {}", why);
    publisher_->MarkBroken();
    publisher_.reset();
    return Unavailable("amqp_unavailable", std::move(why));
  }

  Result<std::unique_ptr<AmqpConnection>> ConnectConsumer() {
    Result<std::unique_ptr<AmqpConnection>> connection =
        AmqpConnection::Open(address_, options_, options_.heartbeat_s);
    if (!connection.ok()) return connection.status();
    amqp_connection_state_t c = (*connection)->state();
    if (Status declared = (*connection)->DeclareQueue(options_.queue, &queue_type_, &broker_ready_);
        !declared.ok()) {
      return declared;
    }
    amqp_basic_qos(c, kChannel, 0, options_.prefetch, 0);
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(c);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) return Failed("basic.qos", reply);
    amqp_basic_consume(c, kChannel, amqp_cstring_bytes(options_.queue.c_str()), amqp_empty_bytes, 0,
                       0, 0, amqp_empty_table);
    reply = amqp_get_rpc_reply(c);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) return Failed("basic.consume", reply);
    return connection;
  }

  // The consuming thread: owns the consuming connection, and replaces it when it fails.
  void ConsumerLoop(std::unique_ptr<AmqpConnection> connection) {
    while (!closed_.load()) {
      if (!connection) {
        const Clock::time_point now = Clock::now();
        if (!consume_backoff_.Ready(now)) {
          std::unique_lock lock(mu_);
          cv_.wait_until(lock, consume_backoff_.not_before(), [&] { return closed_.load(); });
          continue;
        }
        Result<std::unique_ptr<AmqpConnection>> fresh = ConnectConsumer();
        if (!fresh.ok()) {
          if (consume_backoff_.Failed(Clock::now())) {
            spdlog::warn("RabbitMQ consuming connection failed ({}); reconnecting with backoff",
                         fresh.status().ToString());
          }
          continue;
        }
        if (consume_backoff_.Succeeded()) spdlog::info("RabbitMQ consuming connection is back");
        connection = std::move(*fresh);
        std::lock_guard lock(mu_);
        generation_++;
      }
      Status step = RefreshDepth(*connection);
      if (step.ok()) step = ConsumeStep(connection->state());
      if (!step.ok()) {
        spdlog::warn("RabbitMQ consuming connection lost: {}", step.ToString());
        connection->MarkBroken();
        connection.reset();
        // The broker puts back whatever the dead channel had not acknowledged, including what
        // still waits here: drop it rather than hand it out twice.
        std::lock_guard lock(mu_);
        buffer_.clear();
        unacked_.clear();
        acks_.clear();
      }
    }
    if (connection) (void)SendAcks(connection->state());
    // The destructor closes the channel: the broker puts back the unacknowledged deliveries.
  }

  // Every kDepthRefresh: the count of ready messages behind Figures().depth.
  Status RefreshDepth(AmqpConnection& connection) {
    const Clock::time_point now = Clock::now();
    if (now < next_depth_refresh_) return Status::Ok();
    next_depth_refresh_ = now + kDepthRefresh;
    return connection.CountReady(options_.queue, &broker_ready_);
  }

  Status SendAcks(amqp_connection_state_t c) {
    std::vector<uint64_t> acks;
    {
      std::lock_guard lock(mu_);
      acks.swap(acks_);
    }
    for (uint64_t tag : acks) {
      int sent = amqp_basic_ack(c, kChannel, tag, 0);
      if (sent != AMQP_STATUS_OK) {
        return Unavailable("amqp_unavailable", std::string("ack: ") + amqp_error_string2(sent));
      }
    }
    return Status::Ok();
  }

  // Puts back deliveries not acknowledged within requeue_after (basic.nack with requeue), as
  // Redis's XAUTOCLAIM does: otherwise a delivery its worker gave up on would hold a prefetch slot
  // until the connection closes, and enough of them would stop deliveries altogether.
  Status RequeueOverdue(amqp_connection_state_t c) {
    const Clock::time_point now = Clock::now();
    if (now < next_requeue_check_) return Status::Ok();
    next_requeue_check_ = now + std::min(options_.requeue_after, milliseconds(1'000));
    std::vector<uint64_t> overdue;
    {
      std::lock_guard lock(mu_);
      for (auto it = unacked_.begin(); it != unacked_.end();) {
        if (now - it->second < options_.requeue_after) {
          ++it;
          continue;
        }
        overdue.push_back(it->first);
        it = unacked_.erase(it);
      }
      if (overdue.empty()) return Status::Ok();
      // Not handed out yet: it must not be, its acknowledgement would no longer count.
      std::erase_if(buffer_, [&](const Delivery& delivery) {
        return std::find(overdue.begin(), overdue.end(), delivery.tag & kDeliveryTagMask) !=
               overdue.end();
      });
    }
    for (uint64_t tag : overdue) {
      int sent = amqp_basic_nack(c, kChannel, tag, 0, 1);
      if (sent != AMQP_STATUS_OK) {
        return Unavailable("amqp_unavailable", std::string("nack: ") + amqp_error_string2(sent));
      }
    }
    return Status::Ok();
  }

  // One turn of the consuming thread: send pending acks, put back overdue deliveries, wait
  // (bounded) for the socket or a wake up, and read what arrived.
  Status ConsumeStep(amqp_connection_state_t c) {
    if (Status sent = SendAcks(c); !sent.ok()) return sent;
    if (Status requeued = RequeueOverdue(c); !requeued.ok()) return requeued;
    bool readable = amqp_data_in_buffer(c) || amqp_frames_enqueued(c);
    if (!readable) {
      pollfd fds[2] = {{amqp_get_sockfd(c), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      int ready = poll(fds, 2, static_cast<int>(kConsumerPoll.count()));
      if (ready < 0 && errno != EINTR) return Unavailable("amqp_unavailable", "poll failed");
      if (ready > 0 && (fds[1].revents & POLLIN) != 0) {
        uint64_t count;
        (void)!read(wake_fd_, &count, sizeof(count));
      }
      readable = ready > 0 && fds[0].revents != 0;
      // Nothing to read: still call in (without waiting) so that heartbeats go out and a silent
      // broker is noticed.
    }
    amqp_maybe_release_buffers(c);
    timeval timeout = ToTimeval(readable ? options_.rpc_timeout : milliseconds(0));
    amqp_envelope_t envelope;
    amqp_rpc_reply_t reply = amqp_consume_message(c, &envelope, &timeout, 0);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      const uint64_t tag = envelope.delivery_tag;
      // Delivered before, to a consumer that went away or put it back unacknowledged.
      if (envelope.redelivered != 0) redelivered_.fetch_add(1);
      std::string order_id = Text(envelope.message.body);
      amqp_destroy_envelope(&envelope);
      if (tag > kDeliveryTagMask) {
        return Unavailable("amqp_tags_exhausted", "delivery tags ran out on this connection");
      }
      {
        std::lock_guard lock(mu_);
        unacked_.emplace(tag, Clock::now());
        buffer_.push_back(
            Delivery{std::move(order_id), ((generation_ & 0xFFFF) << kGenerationShift) | tag});
      }
      cv_.notify_one();
      return Status::Ok();
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_TIMEOUT) {
      return Status::Ok();
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      // Not a delivery: a method from the broker.
      amqp_frame_t frame;
      timeval none = ToTimeval(milliseconds(0));
      int got = amqp_simple_wait_frame_noblock(c, &frame, &none);
      if (got == AMQP_STATUS_TIMEOUT) return Status::Ok();
      if (got != AMQP_STATUS_OK) {
        return Unavailable("amqp_unavailable", amqp_error_string2(got));
      }
      if (frame.frame_type == AMQP_FRAME_METHOD) {
        switch (frame.payload.method.id) {
          case AMQP_CHANNEL_CLOSE_METHOD:
          case AMQP_CONNECTION_CLOSE_METHOD: {
            amqp_rpc_reply_t closed{};
            closed.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION;
            closed.reply = frame.payload.method;
            return Unavailable("amqp_unavailable", Describe(closed));
          }
          case AMQP_BASIC_CANCEL_METHOD:
            // The queue was deleted: a new connection declares it again.
            return Unavailable("amqp_unavailable", "the broker cancelled the consumer");
          default:
            break;
        }
      }
      return Status::Ok();
    }
    return Unavailable("amqp_unavailable", Describe(reply));
  }

  const RabbitMqQueueOptions options_;
  const AmqpAddress address_;
  std::atomic<QueueType> queue_type_{QueueType::kUnknown};
  std::atomic<bool> closed_{false};
  std::atomic<bool> opened_{false};  // Init() succeeded

  // Publishing. The connection and backoff belong to whichever thread set publishing_.
  std::mutex publish_mu_;
  std::condition_variable publish_cv_;
  bool publishing_ = false;                    // GUARDED_BY(publish_mu_)
  std::shared_ptr<PublishBatch> open_batch_;   // GUARDED_BY(publish_mu_)
  std::unique_ptr<AmqpConnection> publisher_;  // owned by the publishing thread
  uint64_t next_publish_seq_ = 1;              // confirm.select numbering on publisher_
  Backoff publish_backoff_;

  // Consuming. The connection and consume_backoff_ belong to consumer_thread_.
  std::mutex mu_;
  std::condition_variable cv_;   // buffer_ gained a delivery, Wake() or Close()
  std::deque<Delivery> buffer_;  // GUARDED_BY(mu_); at most prefetch
  bool receiver_woken_ = false;  // GUARDED_BY(mu_): a Wake() no Receive has answered yet
  // GUARDED_BY(mu_): broker tags received and not yet acknowledged, with when they came.
  std::unordered_map<uint64_t, Clock::time_point> unacked_;
  std::vector<uint64_t> acks_;  // GUARDED_BY(mu_): broker tags to acknowledge
  uint64_t generation_ = 0;     // GUARDED_BY(mu_): of the consuming connection
  Backoff consume_backoff_;
  Clock::time_point next_requeue_check_{};  // owned by consumer_thread_
  Clock::time_point next_depth_refresh_{};  // owned by consumer_thread_
  // The broker's count of ready messages, as last asked; written by whichever thread declared.
  std::atomic<int64_t> broker_ready_{0};
  std::atomic<int64_t> redelivered_{0};  // deliveries the broker flagged as redelivered
  const int wake_fd_;                    // written to wake the consuming thread from poll()
  std::mutex close_mu_;
  std::thread consumer_thread_;
};

}  // namespace

Result<std::unique_ptr<Queue>> OpenRabbitMqQueue(const RabbitMqQueueOptions& options) {
  Result<AmqpAddress> address = ParseAmqpUrl(options.url);
  if (!address.ok()) return address.status();
  if (options.queue.empty() || options.prefetch == 0 || options.confirm_timeout.count() <= 0 ||
      options.heartbeat_s < 0 || options.requeue_after.count() <= 0 ||
      options.backoff_min.count() <= 0 || options.backoff_max < options.backoff_min) {
    return InvalidArgument("invalid_rabbitmq_queue",
                           "queue, prefetch, confirm_timeout, heartbeat_s, requeue_after or "
                           "backoff");
  }
  auto queue = std::make_unique<RabbitMqQueue>(options, std::move(*address));
  if (Status init = queue->Init(); !init.ok()) return init;
  return std::unique_ptr<Queue>(std::move(queue));
}

}  // namespace topup
