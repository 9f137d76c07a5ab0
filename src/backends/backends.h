// Store and queue backends chosen by URL, so one flag moves a node from one box to several.
//
//   store: postgresql://... or postgres://...   PostgreSQL
//          anything else                        a SQLite database file (the default)
//   queue: redis://...                          Redis Streams
//          amqp://...                           RabbitMQ
//          empty                                the embedded in-process queue (the default)
#pragma once

#include <memory>
#include <string>

#include "topup/queue.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup {

Result<std::unique_ptr<Store>> OpenStore(const std::string& url);
// `consumer` names this process among the queue's consumers (Redis Streams needs it).
Result<std::unique_ptr<Queue>> OpenQueue(const std::string& url, const std::string& consumer);

}  // namespace topup
