// A private CA made at run time and a server certificate it signed, so that tests and benchmarks
// run HTTPS end to end on 127.0.0.1 without any key kept in the repository. Not for production.
#pragma once

#include <string>

#include "topup/status.h"

namespace topup::http {

struct PrivateCaFiles {
  std::string ca_file;    // PEM: the CA certificate, to trust
  std::string cert_file;  // PEM: the server's certificate, for 127.0.0.1 and localhost
  std::string key_file;   // PEM: the server's private key
};

// Makes a CA and a server certificate (valid for a day, for IP 127.0.0.1 and DNS localhost) and
// writes them into `dir`, which must exist.
Result<PrivateCaFiles> MakePrivateCa(const std::string& dir);

}  // namespace topup::http
