// Tells a service manager (systemd, Type=notify) what the process is doing, through sd_notify.
// Outside systemd (no NOTIFY_SOCKET in the environment) every call does nothing.
#pragma once

#include <string>

namespace topup::cli {

// Serving: listening, with the engine running.
void NotifyReady(const std::string& status);
// A graceful stop began; it ends within the stop bound.
void NotifyStopping(const std::string& status);

}  // namespace topup::cli
