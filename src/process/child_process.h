// ChildProcess: a topup server or simulator run as a separate process, as in production, so that
// scenarios can kill it with SIGKILL and start it again.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "topup/status.h"

namespace topup::process {

class ChildProcess {
 public:
  // Starts argv[0] (a path, or a name looked up in PATH) with argv. Its stdout is read by
  // WaitForListening; its stderr is appended to stderr_path (so a chatty child cannot block on a
  // full pipe nor flood the parent's terminal).
  static Result<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                    const std::string& stderr_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();  // SIGKILLs and reaps a child that is still running

  pid_t pid() const { return pid_; }
  // Reads the child's stdout until it prints "listening on HOST:PORT" and returns PORT.
  // DeadlineExceeded if that takes longer than `timeout`; Unavailable if the child exits first.
  Result<uint16_t> WaitForListening(std::chrono::milliseconds timeout);
  // Sends `signal_number` and waits (bounded) for the child to exit. Returns its wait status.
  // A child that outlives `timeout` after SIGTERM is SIGKILLed.
  int Stop(int signal_number, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  bool running() const { return pid_ > 0; }
  // CPU time (user + system, all threads) the running child has used so far; 0 if unknown.
  double CpuSeconds() const;
  // The most memory the running child has held at once (VmHWM), in bytes; 0 if unknown.
  int64_t PeakResidentBytes() const;

 private:
  ChildProcess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}
  void Reset();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
};

// The path of the running executable.
std::string SelfExecutablePath();

// A TCP port on 127.0.0.1 that was free a moment ago (bound with port 0, then released).
Result<uint16_t> PickFreePort();

// Waits until something accepts TCP connections on 127.0.0.1:port. DeadlineExceeded after
// `timeout`.
Status WaitForTcpPort(uint16_t port, std::chrono::milliseconds timeout);

}  // namespace topup::process
