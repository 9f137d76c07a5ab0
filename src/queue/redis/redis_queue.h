// RedisQueue: the Queue backend on a Redis Stream read through a consumer group, for several topup
// processes sharing one Redis (6.2 or later, for XAUTOCLAIM).
//
// Each id is one stream entry {id: <order id>}, added with XADD MAXLEN ~ max_len so the stream
// stays bounded. Every process reads through the same group under its own consumer name: Redis
// hands each entry to one consumer and keeps it in that consumer's pending list until XACK.
// Entries pending longer than min_idle (their consumer died, or never acknowledged them) are taken
// over with XAUTOCLAIM by whichever process looks next, so delivery is at least once. Anything
// Redis loses (a restart without the append-only file, MAXLEN trimming a backlog) the engine's
// sweeper publishes again from the store.
//
// A Receive that waits blocks in XREADGROUP ... BLOCK on its connection; Wake() ends that wait with
// CLIENT UNBLOCK (sent by the woken receiver from another connection), so the read answers at once.
//
// Figures(): the depth is the count of entries not yet delivered to the group (XINFO GROUPS's
// lag, Redis 7; where Redis cannot tell it, or before 7, the stream's length less the group's
// pending entries when delete_on_ack), taken once a second by a thread of the queue's own (so a
// scrape costs no round trip), plus the entries taken over and not yet handed out; redeliveries
// are the entries taken over with XAUTOCLAIM and handed out again.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "topup/queue.h"

namespace topup {

struct RedisQueueOptions {
  // redis://[[user]:password@]host[:port][/db]; the port defaults to 6379 and db to 0.
  std::string url;
  std::string stream = "topup:orders";
  std::string group = "topup-workers";
  // Unique per process (e.g. host and pid): entries delivered to a consumer that never comes back
  // are only reclaimed after min_idle.
  std::string consumer;
  // XADD ... MAXLEN ~ max_len: Redis trims the oldest entries beyond about this many.
  int64_t max_len = 1'000'000;
  // A delivered entry not acknowledged for this long is delivered again (to any consumer). Keep
  // it well above the time a worker holds one order.
  std::chrono::milliseconds min_idle{30'000};
  // How often this process looks for such entries (XAUTOCLAIM), at most.
  std::chrono::milliseconds claim_interval{1'000};
  // At most this many connections at once. A receiver holds one for the whole of its blocking
  // read, so this bounds concurrent receivers too; a few are kept for Publish and Ack.
  size_t max_connections = 128;
  std::chrono::milliseconds connect_timeout{1'000};
  // Bound on one command round trip (a blocking read gets its wait on top).
  std::chrono::milliseconds command_timeout{2'000};
  // After a failed connect, the next attempt waits backoff_min, doubling up to backoff_max.
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{2'000};
  // XDEL acknowledged entries, so the stream holds only unfinished work. Turn off if other
  // consumer groups read the same stream.
  bool delete_on_ack = true;
};

// Connects (once, to check the URL and the server), creates the consumer group if it is missing
// (XGROUP CREATE ... MKSTREAM) and returns the queue. InvalidArgument for a malformed URL or
// options; Unavailable if Redis cannot be reached or refuses the setup. Once open, the queue
// reconnects by itself: while Redis is down Publish and Ack return Unavailable and Receive
// returns an empty batch after its wait.
//
// Thread-safe: every method may be called from many threads at once; each call uses its own
// connection from a pool.
Result<std::unique_ptr<Queue>> OpenRedisQueue(const RedisQueueOptions& options);

}  // namespace topup
