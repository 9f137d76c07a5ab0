#include "auth/secret_box.h"

#include <gtest/gtest.h>

namespace topup::auth {
namespace {

constexpr std::string_view kMasterHex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST(SecretBoxTest, OpensWhatItSealedAndNothingElse) {
  Result<SecretBox> box = SecretBox::FromHex(kMasterHex);
  ASSERT_TRUE(box.ok()) << box.status().ToString();
  const std::string sealed = box->Seal("the secret", "key-1");
  EXPECT_EQ(sealed.find("the secret"), std::string::npos);
  EXPECT_EQ(sealed.size(), 2 * (12 + 10 + 16));
  Result<std::string> opened = box->Open(sealed, "key-1");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, "the secret");
  // Bound to its key id: copied to another key's row, it does not open.
  EXPECT_EQ(box->Open(sealed, "key-2").status().reason(), "unsealable_secret");
  // A fresh nonce each time.
  EXPECT_NE(box->Seal("the secret", "key-1"), sealed);
}

TEST(SecretBoxTest, AlteredOrForeignCiphertextDoesNotOpen) {
  Result<SecretBox> box = SecretBox::FromHex(kMasterHex);
  ASSERT_TRUE(box.ok());
  std::string sealed = box->Seal("the secret", "k");
  for (size_t i : {size_t{0}, size_t{30}, sealed.size() - 1}) {
    std::string altered = sealed;
    altered[i] = altered[i] == '0' ? '1' : '0';
    EXPECT_FALSE(box->Open(altered, "k").ok()) << "flipped digit " << i;
  }
  EXPECT_FALSE(box->Open(sealed.substr(0, 40), "k").ok());
  EXPECT_FALSE(box->Open("not hex", "k").ok());
  EXPECT_FALSE(box->Open("", "k").ok());
  // Another master key cannot open it.
  EXPECT_FALSE(SecretBox::Ephemeral().Open(sealed, "k").ok());
}

TEST(SecretBoxTest, MasterKeyMustBe64HexCharacters) {
  EXPECT_EQ(SecretBox::FromHex("").status().reason(), "invalid_master_key");
  EXPECT_EQ(SecretBox::FromHex(kMasterHex.substr(2)).status().reason(), "invalid_master_key");
  std::string bad(kMasterHex);
  bad[5] = 'g';
  EXPECT_EQ(SecretBox::FromHex(bad).status().reason(), "invalid_master_key");
  EXPECT_TRUE(SecretBox::FromHex(std::string(64, 'A')).ok());
}

TEST(SecretBoxTest, RandomHexIsFreshLowerCaseHex) {
  const std::string a = RandomHex(32);
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, RandomHex(32));
}

}  // namespace
}  // namespace topup::auth
