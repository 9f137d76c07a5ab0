// Lowers the calling thread's CPU priority, so that on a busy machine the scheduler runs other
// threads of the process first. On Linux the nice value belongs to each thread, and threads it
// starts afterwards inherit it.
#pragma once

namespace topup {

// Raises the calling thread's nice value by `increment` (> 0; capped at the system's lowest
// priority). Best effort: returns false, and changes nothing, where the system refuses.
bool LowerThreadPriority(int increment);

}  // namespace topup
