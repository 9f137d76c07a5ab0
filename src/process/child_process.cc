#include "process/child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace topup::process {

std::string SelfExecutablePath() {
  char buffer[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  return length > 0 ? std::string(buffer, static_cast<size_t>(length)) : std::string();
}

namespace {

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

Result<uint16_t> PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Unavailable("no_socket", strerror(errno));
  sockaddr_in address = Loopback(0);
  socklen_t length = sizeof(address);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  if (!ok) return Unavailable("no_free_port", strerror(errno));
  return ntohs(address.sin_port);
}

Status WaitForTcpPort(uint16_t port, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Unavailable("no_socket", strerror(errno));
    sockaddr_in address = Loopback(port);
    bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    close(fd);
    if (connected) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return DeadlineExceeded("port_not_open",
                          "nothing accepted connections on port " + std::to_string(port));
}

Result<ChildProcess> ChildProcess::Spawn(const std::vector<std::string>& argv,
                                         const std::string& stderr_path) {
  if (argv.empty()) return InvalidArgument("empty_argv", "no program to start");
  int stderr_fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (stderr_fd < 0) {
    return Unavailable("spawn_failed", "cannot open " + stderr_path + ": " + strerror(errno));
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    close(stderr_fd);
    return Unavailable("spawn_failed", std::string("pipe: ") + strerror(errno));
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(stderr_fd, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  close(stderr_fd);
  if (pid < 0) {
    close(pipe_fds[0]);
    return Unavailable("spawn_failed", std::string("fork: ") + strerror(errno));
  }
  return ChildProcess(pid, pipe_fds[0]);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_), stdout_fd_(other.stdout_fd_) {
  other.pid_ = -1;
  other.stdout_fd_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Reset();
    pid_ = other.pid_;
    stdout_fd_ = other.stdout_fd_;
    other.pid_ = -1;
    other.stdout_fd_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() { Reset(); }

void ChildProcess::Reset() {
  if (pid_ > 0) Stop(SIGKILL);
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
}

Result<uint16_t> ChildProcess::WaitForListening(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return DeadlineExceeded("child_not_listening", "child did not start listening in time");
    }
    pollfd poll_fd{stdout_fd_, POLLIN, 0};
    int ready = poll(&poll_fd, 1, static_cast<int>(left.count()));
    if (ready <= 0) continue;
    char c;
    ssize_t n = read(stdout_fd_, &c, 1);
    if (n <= 0) return Unavailable("child_exited", "child exited before it was listening");
    if (c != '\n') {
      if (line.size() < 4096) line += c;
      continue;
    }
    constexpr std::string_view kPrefix = "listening on ";
    if (line.starts_with(kPrefix)) {
      size_t colon = line.rfind(':');
      int port = colon == std::string::npos ? 0 : std::atoi(line.c_str() + colon + 1);
      if (port > 0 && port < 65536) return static_cast<uint16_t>(port);
    }
    line.clear();
  }
}

int64_t ChildProcess::PeakResidentBytes() const {
  if (pid_ <= 0) return 0;
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // "  123 kB"
  }
  return 0;
}

double ChildProcess::CpuSeconds() const {
  if (pid_ <= 0) return 0;
  std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int ChildProcess::Stop(int signal_number, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return 0;
  kill(pid_, signal_number);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int wait_status = 0;
  while (true) {
    pid_t done = waitpid(pid_, &wait_status, WNOHANG);
    if (done == pid_ || (done < 0 && errno != EINTR)) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &wait_status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  return wait_status;
}

}  // namespace topup::process
