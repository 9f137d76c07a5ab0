// Each subcommand of the topup executable registers itself on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

namespace topup::cli {

void AddServeCommand(CLI::App& app);
void AddSimCommand(CLI::App& app);
void AddSimulateCommand(CLI::App& app);
void AddMerchantCommand(CLI::App& app);
void AddArchiveCommand(CLI::App& app);
void AddDemoCommand(CLI::App& app);
void AddBenchCommand(CLI::App& app);
void AddChaosCommand(CLI::App& app);
void AddHostileCommand(CLI::App& app);
void AddCallCommand(CLI::App& app);

}  // namespace topup::cli
