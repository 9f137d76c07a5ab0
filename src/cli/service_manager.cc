#include "cli/service_manager.h"

#include <systemd/sd-daemon.h>

namespace topup::cli {
namespace {

// A status is one line of the sd_notify protocol: no newline may end it early.
std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  return text;
}

}  // namespace

void NotifyReady(const std::string& status) {
  (void)sd_notify(0, ("READY=1\nSTATUS=" + OneLine(status)).c_str());
}

void NotifyStopping(const std::string& status) {
  (void)sd_notify(0, ("STOPPING=1\nSTATUS=" + OneLine(status)).c_str());
}

}  // namespace topup::cli
