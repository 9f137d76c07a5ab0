// The signing key cache against a real SQLite store: a key is reused within its time, a revoked
// key stops signing once that time is over, and the number of merchants kept is bounded.
#include "notify/signing_key_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "auth/merchant_keys.h"
#include "store/sqlite/sqlite_store.h"

namespace topup::notify {
namespace {

class SigningKeyCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-keycache-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Result<std::unique_ptr<Store>> store =
        OpenSqliteStore(SqliteStoreOptions{.path = (dir_ / "topup.db").string()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  auth::NewMerchantKey AddMerchant(const std::string& merchant_id) {
    EXPECT_TRUE(store_->CreateMerchant(merchant_id, "Shop", 1).ok());
    Result<auth::NewMerchantKey> key = auth::CreateMerchantKey(*store_, box_, merchant_id, 1);
    EXPECT_TRUE(key.ok());
    return *key;
  }

  std::filesystem::path dir_;
  auth::SecretBox box_ = auth::SecretBox::Ephemeral();
  std::unique_ptr<Store> store_;
};

TEST_F(SigningKeyCacheTest, RevokedKeyStopsSigningAfterTheCacheTime) {
  const auth::NewMerchantKey key = AddMerchant("m1");
  SigningKeyCache cache(store_.get(), &box_, 1'000, 16);
  Result<SigningKey> first = cache.Get("m1", 10'000);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->key_id, key.key_id);
  EXPECT_EQ(first->secret, key.secret);

  ASSERT_TRUE(store_->RevokeMerchantKey("m1", key.key_id, 10'100).ok());
  // Within the cache time the opened key is reused.
  EXPECT_TRUE(cache.Get("m1", 10'999).ok());
  // After it the store is read again: no active key.
  Result<SigningKey> after = cache.Get("m1", 11'000);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), StatusCode::kNotFound);
}

TEST_F(SigningKeyCacheTest, NewestKeyIsPickedUpAfterTheCacheTime) {
  const auth::NewMerchantKey old_key = AddMerchant("m1");
  SigningKeyCache cache(store_.get(), &box_, 1'000, 16);
  ASSERT_EQ(cache.Get("m1", 10'000)->key_id, old_key.key_id);
  Result<auth::NewMerchantKey> new_key = auth::CreateMerchantKey(*store_, box_, "m1", 10'001);
  ASSERT_TRUE(new_key.ok());
  EXPECT_EQ(cache.Get("m1", 10'500)->key_id, old_key.key_id);
  EXPECT_EQ(cache.Get("m1", 11'001)->key_id, new_key->key_id);
}

TEST_F(SigningKeyCacheTest, KeepsAtMostTheBoundAndStillAnswersForEveryMerchant) {
  AddMerchant("m1");
  AddMerchant("m2");
  AddMerchant("m3");
  SigningKeyCache cache(store_.get(), &box_, 60'000, 2);
  for (int round = 0; round < 3; ++round) {
    for (const char* merchant : {"m1", "m2", "m3"}) {
      EXPECT_TRUE(cache.Get(merchant, 1'000 + round).ok()) << merchant;
    }
  }
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.Get("nobody", 2'000).ok());
}

}  // namespace
}  // namespace topup::notify
