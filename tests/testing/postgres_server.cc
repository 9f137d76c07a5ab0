#include "testing/postgres_server.h"

#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

namespace topup::testing {
namespace {

constexpr std::string_view kBinDir = "/usr/lib/postgresql/15/bin";
constexpr std::string_view kSuperuser = "topup";
constexpr auto kInitdbTimeout = std::chrono::seconds(120);
constexpr auto kStartTimeout = std::chrono::seconds(60);
constexpr auto kStopTimeout = std::chrono::seconds(30);
constexpr auto kCreateDatabaseTimeout = std::chrono::seconds(60);
constexpr auto kPollInterval = std::chrono::milliseconds(10);
constexpr int kPortAttempts = 3;

std::string Binary(std::string_view name) { return std::string(kBinDir) + "/" + std::string(name); }

// The last `max_bytes` of a log file, for error messages.
std::string Tail(const std::string& path, size_t max_bytes = 2000) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream buffer;
  buffer << file.rdbuf();
  std::string text = buffer.str();
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

// argv run through setpriv: as the postgres user when `as_postgres_user`, and with SIGQUIT (for
// the server: immediate shutdown) delivered when this process dies.
std::vector<std::string> ThroughSetpriv(bool as_postgres_user, std::vector<std::string> argv) {
  std::vector<std::string> full = {"setpriv"};
  if (as_postgres_user) {
    full.insert(full.end(), {"--reuid=postgres", "--regid=postgres", "--init-groups"});
  }
  full.insert(full.end(), {"--pdeathsig=QUIT", "--"});
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

// Runs argv to its end, at most `timeout`, with its stderr appended to `log_path`.
Status RunToExit(const std::vector<std::string>& argv, const std::string& log_path,
                 std::chrono::milliseconds timeout) {
  Result<process::ChildProcess> child = process::ChildProcess::Spawn(argv, log_path);
  if (!child.ok()) return child.status();
  // Signal 0 delivers nothing: Stop only waits, bounded, for the child to exit (and SIGKILLs it
  // when the time is up).
  const int wait_status = child->Stop(0, timeout);
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) return Status::Ok();
  std::string command;
  for (const std::string& arg : argv) command += (command.empty() ? "" : " ") + arg;
  return Unavailable("command_failed", command + " failed (wait status " +
                                           std::to_string(wait_status) + "):\n" + Tail(log_path));
}

// The fields of /proc/<pid>/stat from the state on (field 3 of proc(5) is [0]); empty if the
// process is gone. The command name before them may hold spaces, hence the last ')'.
std::vector<std::string> StatFields(const std::string& pid) {
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream stream(text.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; stream >> field;) fields.push_back(std::move(field));
  return fields;
}

// Field `number` of proc(5)'s /proc/<pid>/stat, as clock ticks; 0 if absent.
double Ticks(const std::vector<std::string>& fields, size_t number) {
  return fields.size() > number - 3 ? std::stod(fields[number - 3]) : 0;
}

// Whether `pid`, a child not yet reaped, has exited (it is then a zombie).
bool HasExited(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  if (text.empty()) return true;
  size_t close_paren = text.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= text.size() ||
         text[close_paren + 2] == 'Z';
}

// Whether postmaster.pid says that the postmaster `pid` accepts connections: its first line is
// the PID and its eighth the status ("ready" once startup and recovery are done).
bool PostmasterReady(const std::string& data_dir, pid_t pid) {
  std::ifstream file(data_dir + "/postmaster.pid");
  std::vector<std::string> lines;
  for (std::string line; lines.size() < 8 && std::getline(file, line);) lines.push_back(line);
  return lines.size() == 8 && lines[0] == std::to_string(pid) && lines[7].starts_with("ready");
}

bool IsValidDatabaseName(const std::string& name) {
  return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  for (std::string_view program : {"initdb", "postgres", "createdb", "dropdb"}) {
    if (access(Binary(program).c_str(), X_OK) != 0) {
      return FailedPrecondition("postgres_missing", "PostgreSQL 15 is not installed (no " +
                                                        Binary(program) +
                                                        "): install Debian's postgresql-15 package "
                                                        "(scripts/bootstrap.sh does)");
    }
  }
  const bool as_postgres_user = geteuid() == 0;
  passwd* postgres_user = nullptr;
  if (as_postgres_user) {
    postgres_user = getpwnam("postgres");
    if (postgres_user == nullptr) {
      return FailedPrecondition("postgres_missing",
                                "running as root, but there is no `postgres` system user to run "
                                "PostgreSQL as (Debian's postgresql-15 package creates it)");
    }
  }

  std::string pattern = (std::filesystem::temp_directory_path() / "topup_pg_XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return Unavailable("no_temp_dir", "mkdtemp failed for " + pattern);
  }
  // From here on the server object owns the directory: its destructor removes it.
  std::unique_ptr<PostgresServer> server(new PostgresServer(pattern, as_postgres_user));
  if (as_postgres_user &&
      chown(server->dir_.c_str(), postgres_user->pw_uid, postgres_user->pw_gid) != 0) {
    return Unavailable("chown_failed", "cannot hand " + server->dir_ + " to the postgres user");
  }

  // --no-sync skips only initdb's one-off flush of the empty cluster; the server runs with fsync.
  Status status =
      RunToExit(ThroughSetpriv(as_postgres_user,
                               {Binary("initdb"), "--pgdata=" + server->dir_ + "/data",
                                "--username=" + std::string(kSuperuser), "--auth=trust",
                                "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"}),
                server->dir_ + "/initdb.log", kInitdbTimeout);
  if (!status.ok()) return status;

  // A port that was free a moment ago may be taken by the time the server binds it.
  for (int attempt = 1;; ++attempt) {
    Result<uint16_t> port = process::PickFreePort();
    if (!port.ok()) return port.status();
    server->port_ = *port;
    status = server->Launch(kStartTimeout);
    if (status.ok()) return server;
    if (attempt == kPortAttempts) return status;
  }
}

PostgresServer::~PostgresServer() {
  Stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string PostgresServer::DatabaseUrl(const std::string& database) const {
  return "postgresql://" + std::string(kSuperuser) + "@127.0.0.1:" + std::to_string(port_) + "/" +
         database;
}

Status PostgresServer::Launch(std::chrono::milliseconds timeout) {
  const std::string data_dir = dir_ + "/data";
  const std::string log_path = dir_ + "/postgres.log";
  std::vector<std::string> argv = {Binary("postgres"), "-D", data_dir, "-p", std::to_string(port_)};
  // Private (TCP on the loopback only, no Unix socket) and durable as in production.
  for (const char* setting : {"listen_addresses=127.0.0.1", "unix_socket_directories=", "fsync=on",
                              "synchronous_commit=on", "full_page_writes=on", "max_connections=200",
                              "shared_buffers=64MB", "max_wal_size=1GB", "logging_collector=off"}) {
    argv.insert(argv.end(), {"-c", setting});
  }
  Result<process::ChildProcess> child =
      process::ChildProcess::Spawn(ThroughSetpriv(as_postgres_user_, std::move(argv)), log_path);
  if (!child.ok()) return child.status();
  process_.emplace(std::move(child).value());
  const pid_t pid = process_->pid();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!PostmasterReady(data_dir, pid)) {
    if (HasExited(pid)) {
      Stop();
      return Unavailable("postgres_not_started",
                         "postgres exited during startup:\n" + Tail(log_path));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      Stop();
      return DeadlineExceeded("postgres_not_started",
                              "postgres was not ready in time:\n" + Tail(log_path));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return process::WaitForTcpPort(port_, std::max(left, std::chrono::milliseconds(1)));
}

void PostgresServer::Stop() {
  if (!process_.has_value()) return;
  // SIGQUIT is PostgreSQL's immediate shutdown: the postmaster stops its backends, waits for
  // them, and exits without a checkpoint.
  process_->Stop(SIGQUIT, kStopTimeout);
  process_.reset();
}

Status PostgresServer::Restart() {
  Stop();
  return Launch(kStartTimeout);
}

double PostgresServer::CpuSeconds() const {
  if (!process_.has_value()) return 0;
  const std::string postmaster = std::to_string(process_->pid());
  // utime, stime, and the children's it reaped (cutime, cstime).
  const std::vector<std::string> own = StatFields(postmaster);
  double ticks = Ticks(own, 14) + Ticks(own, 15) + Ticks(own, 16) + Ticks(own, 17);
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::vector<std::string> fields = StatFields(pid);
    if (fields.size() > 1 && fields[1] == postmaster)
      ticks += Ticks(fields, 14) + Ticks(fields, 15);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

Result<std::string> PostgresServer::CreateDatabase(const std::string& name) {
  if (!IsValidDatabaseName(name)) {
    return InvalidArgument("invalid_database_name", "database names are [a-z0-9_]{1,63}");
  }
  Status status =
      RunToExit({Binary("createdb"), "--host=127.0.0.1", "--port=" + std::to_string(port_),
                 "--username=" + std::string(kSuperuser), "--no-password", name},
                dir_ + "/createdb.log", kCreateDatabaseTimeout);
  if (!status.ok()) return status;
  return DatabaseUrl(name);
}

Status PostgresServer::DropDatabase(const std::string& name) {
  if (!IsValidDatabaseName(name)) {
    return InvalidArgument("invalid_database_name", "database names are [a-z0-9_]{1,63}");
  }
  return RunToExit({Binary("dropdb"), "--host=127.0.0.1", "--port=" + std::to_string(port_),
                    "--username=" + std::string(kSuperuser), "--no-password", "--force", name},
                   dir_ + "/dropdb.log", kCreateDatabaseTimeout);
}

}  // namespace topup::testing
