#include "core/thread_priority.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace topup {

bool LowerThreadPriority(int increment) {
  // PRIO_PROCESS with a thread id names that one thread on Linux.
  const auto thread_id = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, thread_id);
  if (current == -1 && errno != 0) return false;
  return setpriority(PRIO_PROCESS, thread_id, std::min(current + increment, 19)) == 0;
}

}  // namespace topup
