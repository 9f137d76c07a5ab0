#include "observe/log_setup.h"

#include <pthread.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "core/invariant.h"

namespace topup::observe {
namespace {

// A failed TOPUP_ASSERT, on the process's logger, flushed before the abort.
void LogInvariant(const char* condition, const char* message, const char* file, int line) {
  spdlog::critical("invariant broken at {}:{}: {} ({})", file, line, message, condition);
  spdlog::default_logger_raw()->flush();
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The fields a JSON line lifts out of its message.
constexpr std::array<std::string_view, 3> kFields = {"order_id", "merchant_id", "channel"};

// The value of `key=` in `message`, if it names it: up to the next space, comma, semicolon, or a
// colon or period that ends the word.
std::string_view FieldValue(std::string_view message, std::string_view key) {
  for (size_t at = message.find(key); at != std::string_view::npos;
       at = message.find(key, at + 1)) {
    const bool starts_word = at == 0 || message[at - 1] == ' ' || message[at - 1] == '(';
    const size_t value_at = at + key.size();
    if (!starts_word || value_at >= message.size() || message[value_at] != '=') continue;
    size_t end = value_at + 1;
    while (end < message.size() && message[end] != ' ' && message[end] != ',' &&
           message[end] != ';' && message[end] != ')') {
      ++end;
    }
    while (end > value_at + 1 && (message[end - 1] == ':' || message[end - 1] == '.')) --end;
    return message.substr(value_at + 1, end - value_at - 1);
  }
  return {};
}

void AppendJsonString(std::string_view text, spdlog::memory_buf_t& out) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out.append(std::string_view(escaped));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string ThreadName() {
  char name[16] = {};
  if (pthread_getname_np(pthread_self(), name, sizeof name) != 0) return "?";
  return name;
}

// Masks and redacts the message, then hands it to `format_line`.
class RedactingFormatter : public spdlog::formatter {
 public:
  explicit RedactingFormatter(LogFormat format) : format_(format) {
    if (format_ == LogFormat::kText) {
      text_ = std::make_unique<spdlog::pattern_formatter>("[%Y-%m-%d %H:%M:%S.%e] [%l] [%n] %v",
                                                          spdlog::pattern_time_type::utc);
    }
  }

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string message =
        RedactUrlCredentials(MaskPhones(std::string_view(msg.payload.data(), msg.payload.size())));
    if (format_ == LogFormat::kText) {
      spdlog::details::log_msg redacted = msg;
      redacted.payload = message;
      text_->format(redacted, dest);
      return;
    }
    FormatJson(msg, message, dest);
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<RedactingFormatter>(format_);
  }

 private:
  static void FormatJson(const spdlog::details::log_msg& msg, std::string_view message,
                         spdlog::memory_buf_t& dest) {
    const auto since_epoch = msg.time.time_since_epoch();
    const std::time_t seconds =
        std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char time[64];  // room for any int the format could print
    std::snprintf(time, sizeof time, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(ms));
    dest.append(std::string_view(R"({"time":")"));
    dest.append(std::string_view(time));
    dest.append(std::string_view(R"(","level":")"));
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    dest.append(std::string_view(level.data(), level.size()));
    dest.append(std::string_view(R"(","thread":)"));
    AppendJsonString(ThreadName(), dest);
    dest.append(std::string_view(R"(,"message":)"));
    AppendJsonString(message, dest);
    for (std::string_view key : kFields) {
      std::string_view value = FieldValue(message, key);
      if (value.empty()) continue;
      dest.append(std::string_view(",\""));
      dest.append(key);
      dest.append(std::string_view("\":"));
      AppendJsonString(value, dest);
    }
    dest.append(std::string_view("}\n"));
  }

  const LogFormat format_;
  std::unique_ptr<spdlog::pattern_formatter> text_;  // kText only
};

}  // namespace

Result<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return InvalidArgument("invalid_log_format",
                         "log format must be text or json, not \"" + std::string(name) + "\"");
}

Result<spdlog::level::level_enum> ParseLogLevel(std::string_view name) {
  for (auto level :
       {spdlog::level::trace, spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
        spdlog::level::err, spdlog::level::critical, spdlog::level::off}) {
    // spdlog's own name ("warning") is read as well as ours ("warn").
    const spdlog::string_view_t spdlog_name = spdlog::level::to_string_view(level);
    if (name == LogLevelName(level) ||
        name == std::string_view(spdlog_name.data(), spdlog_name.size())) {
      return level;
    }
  }
  return InvalidArgument("invalid_log_level",
                         "log level must be trace, debug, info, warn, error, critical or off, not "
                         "\"" +
                             std::string(name) + "\"");
}

std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format) {
  return std::make_unique<RedactingFormatter>(format);
}

void SetUpLogging(const std::string& name, LogFormat format, spdlog::level::level_enum level) {
  std::shared_ptr<spdlog::logger> logger = spdlog::get(name);
  if (logger == nullptr) logger = spdlog::stderr_logger_mt(name);
  logger->set_formatter(MakeLogFormatter(format));
  logger->set_level(level);
  // Warnings and errors reach the terminal (or the journal) at once.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  SetInvariantReporter(&LogInvariant);
}

void ChangeLogLevel(spdlog::level::level_enum level) {
  spdlog::set_level(level);
  spdlog::log(std::max(level, spdlog::level::info), "log level now {}", LogLevelName(level));
}

std::string_view LogLevelName(spdlog::level::level_enum level) {
  if (level == spdlog::level::err) return "error";
  if (level == spdlog::level::warn) return "warn";
  const spdlog::string_view_t name = spdlog::level::to_string_view(level);
  return std::string_view(name.data(), name.size());
}

spdlog::level::level_enum NextLogLevel(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::info:
      return spdlog::level::debug;
    case spdlog::level::debug:
      return spdlog::level::trace;
    case spdlog::level::trace:
      return spdlog::level::warn;
    case spdlog::level::warn:
      return spdlog::level::err;
    default:
      return spdlog::level::info;
  }
}

std::string MaskPhones(std::string_view text) {
  std::string out(text);
  size_t i = 0;
  while (i < out.size()) {
    if (!IsDigit(out[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < out.size() && IsDigit(out[end])) ++end;
    // Digits inside a word (a hexadecimal order id) are not a phone number.
    const bool alone =
        (i == 0 || !IsAlnum(out[i - 1])) && (end == out.size() || !IsAlnum(out[end]));
    if (end - i == 11 && out[i] == '1' && alone) out.replace(i + 3, 4, "****");
    i = end;
  }
  return out;
}

std::string RedactUrlCredentials(std::string_view text) {
  std::string out(text);
  for (size_t scheme_end = out.find("://"); scheme_end != std::string::npos;
       scheme_end = out.find("://", scheme_end + 3)) {
    const size_t user_at = scheme_end + 3;
    size_t end = user_at;
    while (end < out.size() && out[end] != '/' && out[end] != ' ' && out[end] != '@') ++end;
    if (end >= out.size() || out[end] != '@') continue;  // no credentials before the host
    const size_t colon = out.find(':', user_at);
    if (colon == std::string::npos || colon > end) continue;  // a user and no password
    out.replace(colon + 1, end - colon - 1, "***");
  }
  return out;
}

}  // namespace topup::observe
