// topup archive: moves final orders older than an age out of a store's hot tables (see
// Store::ArchiveFinalOrders), by hand; `topup serve --archive-every` runs the same on a schedule.
#include <iostream>

#include "backends/backends.h"
#include "cli/archive_schedule.h"
#include "cli/commands.h"
#include "topup/clock.h"

namespace topup::cli {
namespace {

struct ArchiveFlags {
  std::string store_url = "topup.db";
  std::string older_than;
  size_t batch = 5000;
};

int RunArchive(const ArchiveFlags& flags) {
  auto fail = [](const Status& status) {
    std::cerr << "topup archive: " << status.message() << " (" << status.reason() << ")\n";
    return 1;
  };
  Result<ArchiveRequest> request =
      MakeArchiveRequest(flags.older_than, flags.batch, SystemClock()->NowMs());
  if (!request.ok()) return fail(request.status());
  Result<std::unique_ptr<Store>> store = OpenStore(flags.store_url);
  if (!store.ok()) return fail(store.status());
  Result<ArchiveReport> report = (*store)->ArchiveFinalOrders(*request);
  if (!report.ok()) return fail(report.status());
  std::cout << "archived " << report->orders << " orders in " << report->batches << " batches\n";
  return 0;
}

}  // namespace

void AddArchiveCommand(CLI::App& app) {
  auto flags = std::make_shared<ArchiveFlags>();
  CLI::App* archive =
      app.add_subcommand("archive", "Move old final orders out of the store's hot tables");
  archive->add_option("--store,--db", flags->store_url, "Store: SQLite file or postgresql:// URL")
      ->capture_default_str();
  archive
      ->add_option("--older-than", flags->older_than,
                   "Archive final orders finished longer ago than this (30d, 12h, ...)")
      ->required();
  archive->add_option("--batch", flags->batch, "Orders moved per transaction")
      ->capture_default_str();
  archive->callback([flags] {
    const int code = RunArchive(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace topup::cli
