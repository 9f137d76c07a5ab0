// The master key that seals merchant key secrets at rest: from --master-key-file, else from the
// environment variable TOPUP_MASTER_KEY (64 hex characters either way).
#pragma once

#include <string>

#include "auth/secret_box.h"
#include "topup/status.h"

namespace topup::cli {

// FailedPrecondition("no_master_key") when neither is given; InvalidArgument("invalid_master_key")
// when the one given is not 64 hex characters; Unavailable("unreadable_master_key_file").
Result<auth::SecretBox> LoadMasterKey(const std::string& key_file);

}  // namespace topup::cli
