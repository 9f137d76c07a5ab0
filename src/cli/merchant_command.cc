// topup merchant add|fund|show: merchant accounts on the store, without a running server.
#include <iostream>

#include "cli/commands.h"
#include "store/sqlite/sqlite_store.h"
#include "topup/clock.h"

namespace topup::cli {
namespace {

struct MerchantFlags {
  std::string db_path = "topup.db";
  std::string merchant_id;
  std::string name;
  int64_t amount_fen = 0;
  std::string note;
};

int Fail(const Status& status) {
  std::cerr << "topup merchant: " << status.message() << " (" << status.reason() << ")\n";
  return 1;
}

int RunMerchant(const std::string& action, const MerchantFlags& flags) {
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(SqliteStoreOptions{.path = flags.db_path});
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

}  // namespace

void AddMerchantCommand(CLI::App& app) {
  auto flags = std::make_shared<MerchantFlags>();
  CLI::App* merchant = app.add_subcommand("merchant", "Create, fund and show merchants");
  merchant->require_subcommand(1);
  merchant->fallthrough();  // --db may follow the action
  merchant->add_option("--db", flags->db_path, "SQLite database file")->capture_default_str();

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
}

}  // namespace topup::cli
