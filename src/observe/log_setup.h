// Logging set-up: the process's spdlog logger on stderr, as text or as JSON lines, with phone
// numbers masked and URL credentials redacted in every line, and the level changeable at run time.
//
// JSON lines carry "time" (UTC, ms), "level", "thread" (its name), "message", and the fields
// order_id, merchant_id and channel when the message names them. A message names a field by
// writing it as key=value ("transition failed order_id=T123 channel=alpha: ..."), which reads as
// well in text; the JSON formatter lifts each such pair into a field of its own.
#pragma once

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include <memory>
#include <string>
#include <string_view>

#include "topup/status.h"

namespace topup::observe {

enum class LogFormat { kText, kJson };

// "text" or "json"; InvalidArgument("invalid_log_format") otherwise.
Result<LogFormat> ParseLogFormat(std::string_view name);
// "trace", "debug", "info", "warn", "error", "critical" or "off";
// InvalidArgument("invalid_log_level") otherwise.
Result<spdlog::level::level_enum> ParseLogLevel(std::string_view name);

// The formatter of `format`, masking and redacting as above.
std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format);

// Makes a logger named `name` on stderr the default logger, with that formatter and `level`, and
// has failed invariants (TOPUP_ASSERT) logged through it at critical level.
void SetUpLogging(const std::string& name, LogFormat format, spdlog::level::level_enum level);

// Sets the level of the process's loggers and logs the change, at info or above so that it is
// seen whatever the new level (SIGUSR1, PUT /v1/admin/log-level).
void ChangeLogLevel(spdlog::level::level_enum level);
// "info", "debug", ...: the name ParseLogLevel reads back.
std::string_view LogLevelName(spdlog::level::level_enum level);

// The next level of the cycle info -> debug -> trace -> warn -> error -> info (SIGUSR1); from
// any other level, info.
spdlog::level::level_enum NextLogLevel(spdlog::level::level_enum level);

// "13800138000" -> "138****8000": every run of exactly 11 digits that starts with 1 (a mainland
// mobile number) and is not part of a longer word (a letter or digit on either side).
std::string MaskPhones(std::string_view text);
// "postgresql://user:secret@host/db" -> "postgresql://user:***@host/db", in every URL of `text`.
std::string RedactUrlCredentials(std::string_view text);

}  // namespace topup::observe
