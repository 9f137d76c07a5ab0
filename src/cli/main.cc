// topup: the top-up service and its tools, one subcommand each.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"topup: mobile top-up orders, brought to a final state within 3 minutes"};
  app.require_subcommand(1);
  topup::cli::AddServeCommand(app);
  topup::cli::AddSimCommand(app);
  topup::cli::AddSimulateCommand(app);
  topup::cli::AddMerchantCommand(app);
  topup::cli::AddArchiveCommand(app);
  topup::cli::AddDemoCommand(app);
  topup::cli::AddBenchCommand(app);
  topup::cli::AddChaosCommand(app);
  topup::cli::AddHostileCommand(app);
  topup::cli::AddCallCommand(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
