// ReportToJson: a scenario's report as a JSON object, for `topup demo|bench|chaos|hostile --json`.
// Every field of ScenarioReport under its own name (durations in s or ms as named), plus
// "completed" (true; a run that could not complete writes {"completed": false, "error": ...}),
// "deadline_s" and "correct" (ScenarioReport::Correct()).
#pragma once

#include <string>

#include "loadgen/scenario.h"

namespace topup::loadgen {

std::string ReportToJson(const ScenarioReport& report, int64_t deadline_s);

}  // namespace topup::loadgen
