// The merchant API key part of the Store contract, on every backend: at most two active keys,
// revocation, and what is stored is what is read back (the sealed secret, untouched).
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

#include "store_backends.h"

namespace topup::store_conformance {
namespace {

class MerchantKeysConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<StoreBackend>> backend = MakeBackend(GetParam());
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(backend).value();
    Result<std::unique_ptr<Store>> store = backend_->Open();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    ASSERT_TRUE(store_->CreateMerchant("m1", "One", kT0Ms).ok());
    ASSERT_TRUE(store_->CreateMerchant("m2", "Two", kT0Ms).ok());
  }

  static MerchantKey Key(const std::string& key_id, const std::string& merchant_id,
                         int64_t created_ms = kT0Ms) {
    return MerchantKey{.key_id = key_id,
                       .merchant_id = merchant_id,
                       .sealed_secret = "sealed-" + key_id,
                       .created_ms = created_ms};
  }

  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

TEST_P(MerchantKeysConformanceTest, AddedKeyReadsBackAsStored) {
  ASSERT_TRUE(store_->AddMerchantKey(Key("ka", "m1")).ok());
  Result<MerchantKey> key = store_->GetMerchantKey("ka");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->key_id, "ka");
  EXPECT_EQ(key->merchant_id, "m1");
  EXPECT_EQ(key->sealed_secret, "sealed-ka");
  EXPECT_EQ(key->created_ms, kT0Ms);
  EXPECT_EQ(key->revoked_ms, 0);
}

TEST_P(MerchantKeysConformanceTest, RefusesUnknownMerchantTakenIdAndMalformedKeys) {
  EXPECT_EQ(store_->AddMerchantKey(Key("ka", "nobody")).reason(), "unknown_merchant");
  ASSERT_TRUE(store_->AddMerchantKey(Key("ka", "m1")).ok());
  EXPECT_EQ(store_->AddMerchantKey(Key("ka", "m2")).reason(), "key_exists");
  EXPECT_EQ(store_->AddMerchantKey(Key("bad id", "m1")).reason(), "invalid_key");
  MerchantKey empty = Key("kb", "m1");
  empty.sealed_secret.clear();
  EXPECT_EQ(store_->AddMerchantKey(empty).reason(), "invalid_key");
  EXPECT_EQ(store_->GetMerchantKey("nope").status().reason(), "unknown_key");
  EXPECT_EQ(store_->GetMerchantKey("not\xff an id").status().reason(), "unknown_key");
  EXPECT_EQ(store_->GetMerchantKey("").status().reason(), "unknown_key");
}

TEST_P(MerchantKeysConformanceTest, AtMostTwoActiveKeysPerMerchant) {
  ASSERT_TRUE(store_->AddMerchantKey(Key("k1", "m1", kT0Ms)).ok());
  ASSERT_TRUE(store_->AddMerchantKey(Key("k2", "m1", kT0Ms + 1)).ok());
  EXPECT_EQ(store_->AddMerchantKey(Key("k3", "m1", kT0Ms + 2)).reason(), "too_many_keys");
  // Another merchant has slots of its own.
  EXPECT_TRUE(store_->AddMerchantKey(Key("k4", "m2")).ok());
  // Revoking one frees its slot, and the revoked key stays listed.
  ASSERT_TRUE(store_->RevokeMerchantKey("m1", "k1", kT0Ms + 10).ok());
  ASSERT_TRUE(store_->AddMerchantKey(Key("k3", "m1", kT0Ms + 20)).ok());
  EXPECT_EQ(store_->AddMerchantKey(Key("k5", "m1", kT0Ms + 30)).reason(), "too_many_keys");
  Result<std::vector<MerchantKey>> keys = store_->ListMerchantKeys("m1");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ(keys->size(), 3u);
  EXPECT_EQ((*keys)[0].key_id, "k1");
  EXPECT_EQ((*keys)[0].revoked_ms, kT0Ms + 10);
  EXPECT_EQ((*keys)[1].key_id, "k2");
  EXPECT_EQ((*keys)[1].revoked_ms, 0);
  EXPECT_EQ((*keys)[2].key_id, "k3");
  EXPECT_EQ(backend_
                ->QueryInt("SELECT count(*) FROM merchant_keys WHERE merchant_id = 'm1' AND "
                           "revoked_ms = 0")
                .value(),
            2);
}

TEST_P(MerchantKeysConformanceTest, RevocationIsPerMerchantAndSticks) {
  ASSERT_TRUE(store_->AddMerchantKey(Key("k1", "m1")).ok());
  // Another merchant cannot revoke it, and an unknown key is not found.
  EXPECT_EQ(store_->RevokeMerchantKey("m2", "k1", kT0Ms + 1).reason(), "unknown_key");
  EXPECT_EQ(store_->RevokeMerchantKey("m1", "nope", kT0Ms + 1).reason(), "unknown_key");
  EXPECT_EQ(store_->GetMerchantKey("k1")->revoked_ms, 0);
  ASSERT_TRUE(store_->RevokeMerchantKey("m1", "k1", kT0Ms + 5).ok());
  // A second revocation changes nothing.
  ASSERT_TRUE(store_->RevokeMerchantKey("m1", "k1", kT0Ms + 9).ok());
  EXPECT_EQ(store_->GetMerchantKey("k1")->revoked_ms, kT0Ms + 5);
}

TEST_P(MerchantKeysConformanceTest, ListsOfUnknownAndKeylessMerchants) {
  EXPECT_EQ(store_->ListMerchantKeys("nobody").status().reason(), "unknown_merchant");
  Result<std::vector<MerchantKey>> none = store_->ListMerchantKeys("m2");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
}

TEST_P(MerchantKeysConformanceTest, NodesAddingKeysAtOnceNeverMakeAThirdActiveKey) {
  constexpr int kNodes = 4;
  constexpr int kRounds = 10;
  std::vector<std::unique_ptr<Store>> nodes;
  for (int i = 0; i < kNodes; ++i) {
    Result<std::unique_ptr<Store>> node = backend_->Open();
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    nodes.push_back(std::move(node).value());
  }
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> added{0};
    std::latch start_line(kNodes);
    std::vector<std::thread> threads;
    for (int i = 0; i < kNodes; ++i) {
      threads.emplace_back([&, i] {
        start_line.arrive_and_wait();
        const std::string id = "r" + std::to_string(round) + "n" + std::to_string(i);
        Status status = nodes[static_cast<size_t>(i)]->AddMerchantKey(Key(id, "m1"));
        if (status.ok()) {
          added++;
        } else {
          EXPECT_TRUE(status.reason() == "too_many_keys" || status.reason() == "key_exists")
              << status.ToString();
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_LE(added.load(), 2);
    Result<std::vector<MerchantKey>> keys = store_->ListMerchantKeys("m1");
    ASSERT_TRUE(keys.ok());
    int active = 0;
    for (const MerchantKey& key : *keys) {
      if (key.revoked_ms == 0) {
        active++;
        ASSERT_TRUE(store_->RevokeMerchantKey("m1", key.key_id, kT0Ms + round + 1).ok());
      }
    }
    EXPECT_LE(active, kMaxActiveKeysPerMerchant);
    EXPECT_GE(active, 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, MerchantKeysConformanceTest, ::testing::ValuesIn(BackendNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace topup::store_conformance
