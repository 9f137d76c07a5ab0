#include "backends/backends.h"

#include "queue/embedded/embedded_queue.h"
#include "queue/rabbitmq/rabbitmq_queue.h"
#include "queue/redis/redis_queue.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

namespace topup {

Result<std::unique_ptr<Store>> OpenStore(const std::string& url) {
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    PostgresStoreOptions options;
    options.url = url;
    options.pool_size = 32;  // connections per node; mind the server's max_connections
    return OpenPostgresStore(options);
  }
  SqliteStoreOptions options;
  options.path = url.starts_with("sqlite://") ? url.substr(9) : url;
  return OpenSqliteStore(options);
}

Result<std::unique_ptr<Queue>> OpenQueue(const std::string& url, const std::string& consumer) {
  if (url.empty()) return std::unique_ptr<Queue>(new EmbeddedQueue());
  if (url.starts_with("redis://")) {
    RedisQueueOptions options;
    options.url = url;
    options.consumer = consumer;
    return OpenRedisQueue(options);
  }
  if (url.starts_with("amqp://")) {
    RabbitMqQueueOptions options;
    options.url = url;
    options.prefetch = 256;  // deliveries in flight per node: enough to keep its workers busy
    return OpenRabbitMqQueue(options);
  }
  return InvalidArgument(
      "invalid_queue_url",
      "queue URL must start with redis:// or amqp:// (or be empty), got \"" + url + "\"");
}

}  // namespace topup
