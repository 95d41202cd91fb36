// Command-line plumbing shared by main.cc and the subcommands: value
// validators with clear messages, "did you mean" suggestions, and the
// examples / exit-code footers of every --help.

#ifndef OCKPT_APPS_OCKPT_CLI_SUPPORT_H_
#define OCKPT_APPS_OCKPT_CLI_SUPPORT_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"

namespace ockpt {

// A byte size: digits with an optional suffix, case-insensitive: K, M, G, T
// (and KiB, MiB, GiB, TiB) are powers of 1024; KB, MB, GB, TB powers of 1000;
// B or nothing: bytes. "4M", "1GiB", "65536". Fails on 0, junk and overflow.
Result<uint64_t> ParseSize(std::string_view text);

// Validators for CLI11 options. Their messages become
// "ockpt: --flag: must be ..." (exit 2).
//   PositiveSize: replaces the text with the number of bytes (ParseSize).
CLI::Validator PositiveSize();
//   Integers >= 1 / >= 0, in decimal; `example` goes into the message.
CLI::Validator PositiveInt(std::string example = "4");
CLI::Validator NonNegativeInt(std::string example = "0", uint64_t max = INT64_MAX);

// Levenshtein distance (for suggestions).
size_t EditDistance(std::string_view a, std::string_view b);
// The candidate closest to `word` when it is close enough to be a likely typo
// (or `word` is a prefix of exactly one candidate).
std::optional<std::string> Suggest(std::string_view word, const std::vector<std::string>& candidates);

// The names of an app's subcommands and of its options ("--threads", "-q").
std::vector<std::string> SubcommandNames(const CLI::App& app);
std::vector<std::string> OptionNames(const CLI::App& app);

// Adds "Examples:" and "Exit status:" footers to the app and every subcommand.
void AddHelpFooters(CLI::App& app);

}  // namespace ockpt

#endif  // OCKPT_APPS_OCKPT_CLI_SUPPORT_H_
