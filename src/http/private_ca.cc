#include "http/private_ca.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>

namespace topup::http {
namespace {

struct Free {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  void operator()(X509* cert) const { X509_free(cert); }
  void operator()(X509_EXTENSION* ext) const { X509_EXTENSION_free(ext); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Cert = std::unique_ptr<X509, Free>;

Status Failed(const std::string& what) { return Internal("private CA: " + what); }

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Free> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext != nullptr && X509_add_ext(cert, ext.get(), -1) == 1;
}

// A certificate for `key` named `common_name`, signed by `issuer_key` (and issued by `issuer`,
// or self-issued when null).
Cert MakeCertificate(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key,
                     long serial, bool ca) {
  Cert cert(X509_new());
  if (cert == nullptr) return nullptr;
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  const bool extended =
      ca ? AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE") &&
               AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign")
         : AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE") &&
               AddExtension(cert.get(), signer, NID_subject_alt_name,
                            "IP:127.0.0.1,DNS:localhost") &&
               AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
  if (!extended || X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) return nullptr;
  return cert;
}

template <typename WritePem>
bool WriteFile(const std::string& path, WritePem write) {
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return false;
  const bool written = write(file) == 1;
  return std::fclose(file) == 0 && written;
}

}  // namespace

Result<PrivateCaFiles> MakePrivateCa(const std::string& dir) {
  Key ca_key(EVP_EC_gen("P-256"));
  Key server_key(EVP_EC_gen("P-256"));
  if (ca_key == nullptr || server_key == nullptr) return Failed("cannot make keys");
  Cert ca = MakeCertificate(ca_key.get(), "topup test CA", nullptr, ca_key.get(), 1, true);
  if (ca == nullptr) return Failed("cannot make the CA certificate");
  Cert server = MakeCertificate(server_key.get(), "127.0.0.1", ca.get(), ca_key.get(), 2, false);
  if (server == nullptr) return Failed("cannot make the server certificate");
  PrivateCaFiles files{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key"};
  if (!WriteFile(files.ca_file, [&](FILE* f) { return PEM_write_X509(f, ca.get()); }) ||
      !WriteFile(files.cert_file, [&](FILE* f) { return PEM_write_X509(f, server.get()); }) ||
      !WriteFile(files.key_file, [&](FILE* f) {
        return PEM_write_PrivateKey(f, server_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
      })) {
    return Failed("cannot write the files into " + dir);
  }
  return files;
}

}  // namespace topup::http
