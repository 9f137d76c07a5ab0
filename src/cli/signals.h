// Graceful shutdown for long-running subcommands.
#pragma once

namespace topup::cli {

// Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR1 in the calling thread and in every thread it starts
// afterwards. Call before starting threads.
void BlockTerminationSignals();
// Waits until SIGINT, SIGTERM, SIGHUP or SIGUSR1 arrives and returns its number. REQUIRES:
// BlockTerminationSignals() was called.
int WaitForSignal();

}  // namespace topup::cli
