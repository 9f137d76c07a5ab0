// RabbitMqQueue: the Queue backend on a RabbitMQ queue (AMQP 0-9-1), for several topup processes
// sharing one broker.
//
// The queue is durable and, where the broker supports it (3.8 and later), a quorum queue; if the
// broker refuses that declaration (e.g. a classic queue of that name exists) a classic durable
// queue is used. Messages are persistent and every Publish waits for the broker's publisher
// confirms, so OK means the broker has stored the ids. Consumers use manual acknowledgements with
// a prefetch limit: a delivery not acknowledged when its channel closes (the process died or lost
// its connection), or within requeue_after, is delivered again. Anything the broker loses the
// engine's sweeper publishes again from the store.
//
// Figures(): the depth is the broker's count of ready messages, asked by the consuming thread
// once a second (so a scrape costs no round trip), plus the deliveries received and not yet
// handed out; redeliveries are the deliveries the broker flagged as redelivered.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "topup/queue.h"

namespace topup {

struct RabbitMqQueueOptions {
  // amqp://user:password@host:port/vhost, as RabbitMQ documents it (the vhost "/" is written %2f;
  // a missing part takes the usual default: guest, guest, localhost, 5672, /).
  std::string url;
  std::string queue = "topup.orders";
  // Deliveries the broker sends this process before it acknowledges some: bounds what waits in
  // memory here and what another process could have taken.
  uint16_t prefetch = 64;
  // A delivery not acknowledged for this long is put back on the queue (basic.nack, requeue) and
  // delivered again, to any consumer. Keep it well above the time a worker holds one order.
  std::chrono::milliseconds requeue_after{30'000};
  // Bound on a Publish waiting for the broker's confirms.
  std::chrono::milliseconds confirm_timeout{5'000};
  // Bounds on opening a connection (TCP and AMQP handshake) and on each AMQP request/reply.
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds rpc_timeout{5'000};
  // Heartbeat of the consuming connection, so a broker that vanished without closing the
  // connection is noticed. 0 turns it off.
  int heartbeat_s = 10;
  // After a failed connect, the next attempt waits backoff_min, doubling up to backoff_max.
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5'000};
};

// Connects, declares the queue (see above) and starts consuming. InvalidArgument for a malformed
// URL or options; Unavailable if the broker cannot be reached or refuses the login or the
// declaration. Once open, the queue reconnects by itself with backoff: while the broker is down
// Publish returns Unavailable and Receive returns an empty batch after its wait.
//
// Thread-safe. rabbitmq-c connections are not, so the queue owns two: one for publishing, used by
// one Publish call at a time on behalf of all concurrent callers (their ids go out together, and
// wait for confirms together), and one for consuming, owned by a background thread that puts
// deliveries into a buffer (bounded by the prefetch limit) that Receive takes from, and sends the
// acknowledgements that Ack hands it. A thread rather than receivers taking turns on the
// connection, so that Ack never waits behind a receiver's wait.
Result<std::unique_ptr<Queue>> OpenRabbitMqQueue(const RabbitMqQueueOptions& options);

}  // namespace topup
