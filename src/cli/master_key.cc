#include "cli/master_key.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace topup::cli {
namespace {

std::string Trimmed(std::string text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

}  // namespace

Result<auth::SecretBox> LoadMasterKey(const std::string& key_file) {
  if (!key_file.empty()) {
    std::ifstream file(key_file);
    std::stringstream content;
    if (file.is_open()) content << file.rdbuf();
    if (!file.is_open() || file.bad()) {
      return Unavailable("unreadable_master_key_file", "cannot read the master key file");
    }
    return auth::SecretBox::FromHex(Trimmed(content.str()));
  }
  if (const char* from_env = std::getenv("TOPUP_MASTER_KEY"); from_env != nullptr) {
    return auth::SecretBox::FromHex(Trimmed(from_env));
  }
  return FailedPrecondition("no_master_key",
                            "no master key: set TOPUP_MASTER_KEY (64 hex characters) or give "
                            "--master-key-file");
}

}  // namespace topup::cli
