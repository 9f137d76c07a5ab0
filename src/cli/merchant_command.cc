// topup merchant add|fund|show and topup merchant key add|list|revoke: merchant accounts and their
// API keys on any store (through src/backends), without a running server.
#include <iostream>

#include "auth/merchant_keys.h"
#include "backends/backends.h"
#include "cli/commands.h"
#include "cli/master_key.h"
#include "topup/clock.h"

namespace topup::cli {
namespace {

struct MerchantFlags {
  std::string store_url = "topup.db";
  std::string merchant_id;
  std::string name;
  int64_t amount_fen = 0;
  std::string note;
  std::string key_id;
  std::string master_key_file;
};

int Fail(const Status& status) {
  std::cerr << "topup merchant: " << status.message() << " (" << status.reason() << ")\n";
  return 1;
}

int RunMerchant(const std::string& action, const MerchantFlags& flags) {
  Result<std::unique_ptr<Store>> store = OpenStore(flags.store_url);
  if (!store.ok()) return Fail(store.status());
  const int64_t now_ms = SystemClock()->NowMs();
  if (action == "add") {
    Status created = (*store)->CreateMerchant(
        flags.merchant_id, flags.name.empty() ? flags.merchant_id : flags.name, now_ms);
    if (!created.ok()) return Fail(created);
  } else if (action == "fund") {
    Result<int64_t> balance =
        (*store)->FundMerchant(flags.merchant_id, flags.amount_fen, flags.note, now_ms);
    if (!balance.ok()) return Fail(balance.status());
  }
  Result<Merchant> merchant = (*store)->GetMerchant(flags.merchant_id);
  if (!merchant.ok()) return Fail(merchant.status());
  std::cout << merchant->merchant_id << " (" << merchant->name << ") balance "
            << merchant->balance_fen << " fen\n";
  return 0;
}

void PrintKey(const MerchantKey& key) {
  std::cout << key.key_id << " " << (key.revoked_ms == 0 ? "active" : "revoked") << " created_ms "
            << key.created_ms;
  if (key.revoked_ms != 0) std::cout << " revoked_ms " << key.revoked_ms;
  std::cout << "\n";
}

int RunKey(const std::string& action, const MerchantFlags& flags) {
  Result<std::unique_ptr<Store>> store = OpenStore(flags.store_url);
  if (!store.ok()) return Fail(store.status());
  const int64_t now_ms = SystemClock()->NowMs();
  if (action == "add") {
    Result<auth::SecretBox> box = LoadMasterKey(flags.master_key_file);
    if (!box.ok()) return Fail(box.status());
    Result<auth::NewMerchantKey> made =
        auth::CreateMerchantKey(**store, *box, flags.merchant_id, now_ms);
    if (!made.ok()) return Fail(made.status());
    // Shown this once; only its sealed form is stored.
    std::cout << "key_id " << made->key_id << "\nsecret " << made->secret
              << "\n(the secret is not shown again: keep it now)\n";
    return 0;
  }
  if (action == "revoke") {
    Status revoked = (*store)->RevokeMerchantKey(flags.merchant_id, flags.key_id, now_ms);
    if (!revoked.ok()) return Fail(revoked);
  }
  Result<std::vector<MerchantKey>> keys = (*store)->ListMerchantKeys(flags.merchant_id);
  if (!keys.ok()) return Fail(keys.status());
  for (const MerchantKey& key : *keys) {
    if (action == "list" || key.key_id == flags.key_id) PrintKey(key);
  }
  return 0;
}

}  // namespace

void AddMerchantCommand(CLI::App& app) {
  auto flags = std::make_shared<MerchantFlags>();
  CLI::App* merchant =
      app.add_subcommand("merchant", "Create, fund and show merchants, and manage their API keys");
  merchant->require_subcommand(1);
  merchant->fallthrough();  // --store may follow the action
  merchant
      ->add_option("--store,--db", flags->store_url,
                   "SQLite database file, or postgresql://user@host:port/db")
      ->capture_default_str();

  CLI::App* add = merchant->add_subcommand("add", "Create a merchant with a zero balance");
  add->add_option("--id", flags->merchant_id, "Merchant id")->required();
  add->add_option("--name", flags->name, "Display name");
  CLI::App* fund = merchant->add_subcommand("fund", "Add to a merchant's prepaid balance");
  fund->add_option("--id", flags->merchant_id, "Merchant id")->required();
  fund->add_option("--amount-fen", flags->amount_fen, "Amount in fen (1 yuan = 100 fen)")
      ->required();
  fund->add_option("--note", flags->note, "Ledger note");
  CLI::App* show = merchant->add_subcommand("show", "Show a merchant's balance");
  show->add_option("--id", flags->merchant_id, "Merchant id")->required();

  for (CLI::App* action : {add, fund, show}) {
    action->callback([flags, action] {
      if (int code = RunMerchant(action->get_name(), *flags); code != 0) {
        throw CLI::RuntimeError(code);
      }
    });
  }

  CLI::App* key = merchant->add_subcommand(
      "key", "A merchant's API keys: at most 2 active, so that it can rotate without downtime");
  key->require_subcommand(1);
  key->fallthrough();
  CLI::App* key_add =
      key->add_subcommand("add", "Make a key; prints its id and secret (shown this once)");
  key_add->add_option("--id", flags->merchant_id, "Merchant id")->required();
  key_add->add_option("--master-key-file", flags->master_key_file,
                      "File holding the master key; default: env TOPUP_MASTER_KEY");
  CLI::App* key_list = key->add_subcommand("list", "List the keys, active and revoked");
  key_list->add_option("--id", flags->merchant_id, "Merchant id")->required();
  CLI::App* key_revoke =
      key->add_subcommand("revoke", "Revoke a key: servers refuse it within a second");
  key_revoke->add_option("--id", flags->merchant_id, "Merchant id")->required();
  key_revoke->add_option("--key-id", flags->key_id, "Key id")->required();
  for (CLI::App* action : {key_add, key_list, key_revoke}) {
    action->callback([flags, action] {
      if (int code = RunKey(action->get_name(), *flags); code != 0) throw CLI::RuntimeError(code);
    });
  }
}

}  // namespace topup::cli
