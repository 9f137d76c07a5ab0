#include "simulate/trace.h"

namespace topup::simulate {

void Trace::Add(int64_t at_ms, std::string_view line) {
  std::string entry = std::to_string(at_ms);
  entry += ' ';
  entry += line;
  entry += '\n';
  Hash(entry);
  ++lines_;
  if (kept_.size() == kKept) kept_.pop_front();
  kept_.push_back(std::move(entry));
}

std::string Trace::Tail() const {
  std::string tail;
  for (const std::string& line : kept_) tail += line;
  return tail;
}

void Trace::Hash(std::string_view bytes) {
  for (unsigned char c : bytes) {
    hash_ ^= c;
    hash_ *= 0x100000001b3ull;  // FNV-1a 64 prime
  }
}

}  // namespace topup::simulate
