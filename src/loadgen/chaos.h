// The chaos scenario: several misbehaving channels at once, for `topup chaos` and its test.
#pragma once

#include <cstdint>

#include "loadgen/scenario.h"

namespace topup::loadgen {

// Three channels with every fault on, none deduplicating: alpha (mobile and unicom; a slow tail,
// lost answers, a lagging query index, down from 8 s to 20 s), beta (every carrier; asynchronous,
// reporting by signed callbacks of which some are duplicated, delayed or lost) and gamma (telecom
// and broadnet; slow and failing often). Sets the simulator's and the servers' channel files and
// the servers' retry flags in *options. Notifications go to a merchant receiver that fails (503)
// from 3 s to 7 s of the load and hangs (accepts, never answers) from 9 s to 13 s: early and
// shorter than the 15 s to the second try, so every notification's retries land after them.
void ConfigureChaos(uint64_t seed, ScenarioOptions* options);

}  // namespace topup::loadgen
