// The configuration file of `topup sim --channels-config`: several simulated channels on one port.
#pragma once

#include <string>

#include "sim/supplier_sim.h"
#include "topup/status.h"

namespace topup::sim {

// Reads the several-channel configuration:
//   {"seed"?: int, "callback_threads"?: int, "callback_queue_max"?: int,
//    "channels": [{"name": str, every ChannelSimOptions knob by its field name,
//                  "outages"?: [{"start_s": num, "end_s": num}],
//                  "outage_mode"?: "refuse"|"blackhole",
//                  "async"?: {every AsyncCallbackOptions field by its name}}]}
// and stores it in *options (channels, and seed and callback settings when given). Unknown
// fields are errors, so a misspelt knob is not silently ignored; so is a *_rate outside [0, 1].
// Errors: InvalidArgument("bad_sim_config") naming the field; Unavailable("sim_config_file").
Status ParseSimChannelsConfig(const std::string& json_text, SimOptions* options);
Status LoadSimChannelsConfig(const std::string& path, SimOptions* options);

}  // namespace topup::sim
