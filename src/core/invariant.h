// TOPUP_ASSERT(condition, message): checks an invariant in every build type, Release and
// RelWithDebInfo included (they define NDEBUG, which turns the standard assert off).
//
// Contract: for invariants whose violation means this process's own state is wrong (two owners
// of one order, a refund of a credited order, a negative balance), so that carrying on could
// only spread the damage into the store or to a supplier. A failure reports the condition, the
// message, the file and the line (through the process's logging once observe::SetUpLogging has
// run, on stderr before) and aborts. Errors in what the process is given (requests, supplier
// answers, rows written by another version) are not invariants: they stay Status/Result at the
// boundary that meets them.
//
// Cheap on the passing path: one branch, no allocation, nothing evaluated but `condition`;
// `message` must be a string literal.
#pragma once

namespace topup {

// Reports a failed invariant; the abort follows. Must not throw.
using InvariantReporter = void (*)(const char* condition, const char* message, const char* file,
                                   int line);
// Replaces the reporter (nullptr: the default, one line on stderr). Any thread.
void SetInvariantReporter(InvariantReporter reporter);

// Reports the failed invariant and aborts. Called only by TOPUP_ASSERT.
[[noreturn]] void InvariantFailed(const char* condition, const char* message, const char* file,
                                  int line) noexcept;

}  // namespace topup

#define TOPUP_ASSERT(condition, message)             \
  (__builtin_expect(static_cast<bool>(condition), 1) \
       ? static_cast<void>(0)                        \
       : ::topup::InvariantFailed(#condition, "" message, __FILE__, __LINE__))
