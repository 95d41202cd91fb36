// Validators, suggestions and help footers for the ockpt command line.

#include "apps/ockpt/cli_support.h"

#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>

namespace ockpt {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Decimal digits only, no sign, no overflow.
std::optional<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

constexpr std::string_view kExitStatus =
    "Exit status:\n"
    "  0  success (diff: identical; verify: no problem)\n"
    "  1  the check ran and found something (diff: differences; verify: problems)\n"
    "  2  usage error (bad flag or value)\n"
    "  3  not found (path, step, item or key)\n"
    "  4  corrupt or unsupported data\n"
    "  5  refused: would overwrite, or locked by another writer\n"
    "  6  I/O or internal failure\n"
    "  130/143  interrupted (SIGINT/SIGTERM)";

// Examples per command path ("ocdbt ls").
const std::map<std::string, std::string>& Examples() {
  static const auto* const kExamples = new std::map<std::string, std::string>{
      {"",
       "  ockpt metadata ckpt/                 # leaves, dtypes, shapes, totals\n"
       "  ockpt restore ckpt/ out/             # .npy files + _tree.json\n"
       "  ockpt save out/ ckpt2/               # and back to a checkpoint\n"
       "  ockpt convert ckpt/ model.safetensors\n"
       "  ockpt help diff                      # help on one command"},
      {"metadata",
       "  ockpt metadata ckpt/\n"
       "  ockpt metadata root/ --step 100 --json\n"
       "  ockpt metadata model.safetensors"},
      {"restore",
       "  ockpt restore ckpt/ out/\n"
       "  ockpt restore root/ out.npz --step 100 --select 'params.*'\n"
       "  ockpt restore ckpt/ out.h5 --dtype float32\n"
       "  ockpt restore ckpt/ out/ --mesh data=2,model=4 --spec 'params.*=None,model' --shard 5"},
      {"save",
       "  ockpt save arrays/ ckpt/\n"
       "  ockpt save model.safetensors root/ --step 10 --zarr3\n"
       "  ockpt save arrays.npz ckpt/ --chunk-bytes 64M --compression zstd:3\n"
       "  ockpt save ckpt/ --item state=arrays/ --json-item meta=meta.json"},
      {"convert",
       "  ockpt convert ckpt/ model.safetensors\n"
       "  ockpt convert ckpt/ - --format npz > out.npz\n"
       "  ockpt convert model.h5 ckpt/ --zarr3"},
      {"diff",
       "  ockpt diff ckpt-a/ ckpt-b/\n"
       "  ockpt diff ckpt/ arrays.npz --atol 1e-6 --json\n"
       "  ockpt diff -q ckpt-a/ ckpt-b/ && echo same"},
      {"verify",
       "  ockpt verify ckpt/\n"
       "  ockpt verify ckpt/ --write-sums      # later: ockpt verify ckpt/ --check-sums\n"
       "  ockpt verify root/ --step 100 --json"},
      {"ocdbt",
       "  ockpt ocdbt ls ckpt/ --json\n"
       "  ockpt ocdbt cat ckpt/ a/.zarray\n"
       "  ockpt ocdbt versions ckpt/"},
      {"ocdbt ls", "  ockpt ocdbt ls ckpt/\n  ockpt ocdbt ls ckpt/ --prefix params. --sha256 --json"},
      {"ocdbt cat", "  ockpt ocdbt cat ckpt/ a/.zarray\n  ockpt ocdbt cat ckpt/ a/0 > chunk.bin"},
      {"ocdbt versions", "  ockpt ocdbt versions ckpt/ --json"},
      {"ls-steps", "  ockpt ls-steps root/\n  ockpt ls-steps root/ --json"},
      {"gc",
       "  ockpt gc root/ --max-to-keep 3 --dry-run\n"
       "  ockpt gc root/ --keep-period 1000 --max-to-keep 2\n"
       "  ockpt gc root/ --clean-tmp --tmp-older-than 2h"},
      {"help", "  ockpt help\n  ockpt help restore"},
  };
  return *kExamples;
}

void AddFooters(CLI::App* app, const std::string& path) {
  std::string footer;
  auto it = Examples().find(path);
  if (it != Examples().end()) footer = "\nExamples:\n" + it->second + "\n";
  footer += "\n" + std::string(kExitStatus) + "\n";
  app->footer(footer);
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    AddFooters(sub, path.empty() ? sub->get_name() : path + " " + sub->get_name());
  }
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::optional<uint64_t> n = ParseDecimal(text.substr(0, digits));
  std::string suffix = Lower(text.substr(digits));
  static const std::map<std::string, uint64_t> kUnits = {
      {"", 1},          {"b", 1},
      {"k", 1ull << 10}, {"kib", 1ull << 10}, {"kb", 1000ull},
      {"m", 1ull << 20}, {"mib", 1ull << 20}, {"mb", 1000ull * 1000},
      {"g", 1ull << 30}, {"gib", 1ull << 30}, {"gb", 1000ull * 1000 * 1000},
      {"t", 1ull << 40}, {"tib", 1ull << 40}, {"tb", 1000ull * 1000 * 1000 * 1000},
  };
  auto unit = kUnits.find(suffix);
  if (!n || unit == kUnits.end() || *n == 0 || *n > UINT64_MAX / unit->second) {
    return InvalidArgumentError("'{}' is not a positive size", text);
  }
  return *n * unit->second;
}

CLI::Validator PositiveSize() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        Result<uint64_t> n = ParseSize(text);
        if (!n.ok()) return "must be a positive size such as 4M";
        text = std::to_string(*n);
        return "";
      },
      "SIZE", "size");
}

CLI::Validator PositiveInt(std::string example) {
  return CLI::Validator(
      [example](std::string& text) -> std::string {
        std::optional<uint64_t> n = ParseDecimal(text);
        if (!n || *n == 0 || *n > static_cast<uint64_t>(INT64_MAX)) {
          return fmt::format("must be a positive integer such as {}, not '{}'", example, text);
        }
        return "";
      },
      "N", "positive integer");
}

CLI::Validator NonNegativeInt(std::string example, uint64_t max) {
  return CLI::Validator(
      [example, max](std::string& text) -> std::string {
        std::optional<uint64_t> n = ParseDecimal(text);
        if (!n || *n > max) {
          return fmt::format("must be a non-negative integer such as {}, not '{}'", example, text);
        }
        return "";
      },
      "N", "non-negative integer");
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string> Suggest(std::string_view word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_d = SIZE_MAX;
  std::vector<std::string> prefixed;
  for (const std::string& c : candidates) {
    if (c.size() > word.size() && c.compare(0, word.size(), word) == 0) prefixed.push_back(c);
    size_t d = EditDistance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  size_t limit = std::max<size_t>(1, std::min<size_t>(3, word.size() / 3));
  if (best && best_d <= limit) return best;
  if (prefixed.size() == 1 && word.size() >= 3) return prefixed[0];
  return std::nullopt;
}

std::vector<std::string> SubcommandNames(const CLI::App& app) {
  std::vector<std::string> out;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    out.push_back(sub->get_name());
  }
  return out;
}

std::vector<std::string> OptionNames(const CLI::App& app) {
  std::vector<std::string> out;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->nonpositional()) {
      for (const std::string& l : opt->get_lnames()) out.push_back("--" + l);
      for (const std::string& s : opt->get_snames()) out.push_back("-" + s);
    }
  }
  return out;
}

void AddHelpFooters(CLI::App& app) { AddFooters(&app, ""); }

}  // namespace ockpt
