#include "core/carrier.h"

#include <array>

namespace topup {
namespace {

struct Segment {
  std::string_view prefix;  // 3 or 4 leading digits; the longest matching prefix wins
  Carrier carrier;
};

// Number segments allocated by the Ministry of Industry and Information Technology (MIIT) to the
// four licensed carriers, including their mobile virtual network operator (170x/171/162/165/167)
// and IoT-voice blocks, as published in MIIT's allocations up to 2024. Ported numbers keep their
// segment but not their carrier; a later issue adds an override list for them.
constexpr auto kSegments = std::to_array<Segment>({
    {"130", Carrier::kChinaUnicom},  {"131", Carrier::kChinaUnicom},
    {"132", Carrier::kChinaUnicom},  {"133", Carrier::kChinaTelecom},
    {"134", Carrier::kChinaMobile},  {"1349", Carrier::kChinaTelecom},  // satellite
    {"135", Carrier::kChinaMobile},  {"136", Carrier::kChinaMobile},
    {"137", Carrier::kChinaMobile},  {"138", Carrier::kChinaMobile},
    {"139", Carrier::kChinaMobile},  {"145", Carrier::kChinaUnicom},
    {"147", Carrier::kChinaMobile},  {"149", Carrier::kChinaTelecom},
    {"150", Carrier::kChinaMobile},  {"151", Carrier::kChinaMobile},
    {"152", Carrier::kChinaMobile},  {"153", Carrier::kChinaTelecom},
    {"155", Carrier::kChinaUnicom},  {"156", Carrier::kChinaUnicom},
    {"157", Carrier::kChinaMobile},  {"158", Carrier::kChinaMobile},
    {"159", Carrier::kChinaMobile},  {"162", Carrier::kChinaTelecom},
    {"165", Carrier::kChinaMobile},  {"166", Carrier::kChinaUnicom},
    {"167", Carrier::kChinaUnicom},  {"170", Carrier::kChinaTelecom},  // 1700-1702
    {"1703", Carrier::kChinaMobile}, {"1705", Carrier::kChinaMobile},
    {"1706", Carrier::kChinaMobile}, {"1704", Carrier::kChinaUnicom},
    {"1707", Carrier::kChinaUnicom}, {"1708", Carrier::kChinaUnicom},
    {"1709", Carrier::kChinaUnicom}, {"171", Carrier::kChinaUnicom},
    {"172", Carrier::kChinaMobile},  {"173", Carrier::kChinaTelecom},
    {"174", Carrier::kChinaTelecom}, {"175", Carrier::kChinaUnicom},
    {"176", Carrier::kChinaUnicom},  {"177", Carrier::kChinaTelecom},
    {"178", Carrier::kChinaMobile},  {"180", Carrier::kChinaTelecom},
    {"181", Carrier::kChinaTelecom}, {"182", Carrier::kChinaMobile},
    {"183", Carrier::kChinaMobile},  {"184", Carrier::kChinaMobile},
    {"185", Carrier::kChinaUnicom},  {"186", Carrier::kChinaUnicom},
    {"187", Carrier::kChinaMobile},  {"188", Carrier::kChinaMobile},
    {"189", Carrier::kChinaTelecom}, {"190", Carrier::kChinaTelecom},
    {"191", Carrier::kChinaTelecom}, {"192", Carrier::kChinaBroadnet},
    {"193", Carrier::kChinaTelecom}, {"195", Carrier::kChinaMobile},
    {"196", Carrier::kChinaUnicom},  {"197", Carrier::kChinaMobile},
    {"198", Carrier::kChinaMobile},  {"199", Carrier::kChinaTelecom},
});

}  // namespace

Carrier CarrierOfPhone(std::string_view phone) {
  Carrier found = Carrier::kUnknown;
  size_t found_length = 0;
  for (const Segment& segment : kSegments) {
    if (segment.prefix.size() > found_length && phone.starts_with(segment.prefix)) {
      found = segment.carrier;
      found_length = segment.prefix.size();
    }
  }
  return found;
}

}  // namespace topup
