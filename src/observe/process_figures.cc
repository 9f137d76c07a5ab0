#include "observe/process_figures.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace topup::observe {
namespace {

// The fields of /proc/self/stat after the command name (field 3, the state, is [0]).
std::vector<std::string> StatFields() {
  std::ifstream file("/proc/self/stat");
  std::string line;
  std::getline(file, line);
  // The command name is in parentheses and may hold spaces: the fields start after the last ')'.
  const size_t end_of_name = line.rfind(')');
  if (end_of_name == std::string::npos) return {};
  std::istringstream rest(line.substr(end_of_name + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

double StatField(const std::vector<std::string>& fields, size_t field_no) {
  const size_t index = field_no - 3;  // field numbers as in proc(5)
  return index < fields.size() ? std::stod(fields[index]) : 0;
}

double BootTimeS() {
  std::ifstream file("/proc/stat");
  for (std::string key; file >> key;) {
    if (key == "btime") {
      double seconds = 0;
      file >> seconds;
      return seconds;
    }
    file.ignore(1 << 20, '\n');
  }
  return 0;
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory stream's own descriptor
}

std::vector<Sample> One(double value) { return {Sample{{}, value}}; }

}  // namespace

void AddProcessFigures(Metrics* metrics) {
  const double ticks_per_s = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_bytes = static_cast<double>(sysconf(_SC_PAGESIZE));
  metrics->AddCounter("process_cpu_seconds_total", "User and system CPU time spent, in seconds",
                      [ticks_per_s] {
                        std::vector<std::string> fields = StatFields();
                        return One((StatField(fields, 14) + StatField(fields, 15)) / ticks_per_s);
                      });
  metrics->AddGauge("process_resident_memory_bytes", "Resident memory size in bytes",
                    [page_bytes] { return One(StatField(StatFields(), 24) * page_bytes); });
  metrics->AddGauge("process_virtual_memory_bytes", "Virtual memory size in bytes",
                    [] { return One(StatField(StatFields(), 23)); });
  metrics->AddGauge("process_open_fds", "Open file descriptors", [] { return One(OpenFds()); });
  metrics->AddGauge("process_threads", "Threads of the process",
                    [] { return One(StatField(StatFields(), 20)); });
  const double start_time_s = BootTimeS() + StatField(StatFields(), 22) / ticks_per_s;
  metrics->AddGauge("process_start_time_seconds", "Start time since the Unix epoch, in seconds",
                    [start_time_s] { return One(start_time_s); });
}

}  // namespace topup::observe
