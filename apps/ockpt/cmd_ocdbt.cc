// ockpt ocdbt ls|cat|versions: inspect a TensorStore OCDBT database.

#include <unistd.h>

#include <memory>
#include <sstream>

#include "apps/ockpt/commands.h"
#include "formats/ocdbt/inspect.h"

namespace ockpt {

namespace {

// Wraps a library call that prints to ctx.out as the subcommand's action.
template <typename Options, typename Fn>
void SetAction(CLI::App* cmd, AppContext& ctx, std::shared_ptr<Options> opts, Fn fn) {
  cmd->callback([&ctx, opts, fn] {
    ctx.action = [&ctx, opts, fn]() -> Result<int> {
      OCKPT_RETURN_IF_ERROR(fn(*opts, *ctx.out));
      return 0;
    };
  });
}

}  // namespace

void RegisterOcdbt(CLI::App& app, AppContext& ctx) {
  CLI::App* ocdbt = app.add_subcommand("ocdbt", "Inspect a TensorStore OCDBT database");
  ocdbt->require_subcommand(1);

  auto ls_opts = std::make_shared<ocdbt::OcdbtListOptions>();
  CLI::App* ls = ocdbt->add_subcommand(
      "ls", "List keys: size, inline|indirect, key (tab-separated), or JSON");
  ls->add_option("DIR", ls_opts->dir, "Database directory (holding manifest.ocdbt)")->required();
  ls->add_flag("--json", ls_opts->json, "Print one JSON document");
  ls->add_flag("--sha256", ls_opts->sha256,
               "Read every value and print its SHA-256 (fails if a data file is missing)");
  ls->add_option("--prefix", ls_opts->prefix, "Only keys starting with P");
  ls->add_flag("-l,--long", ls_opts->long_format,
               "Text: add the data file and offset of indirect values");
  ls->add_option("--version", ls_opts->generation, "Read generation N instead of the latest")
      ->check(PositiveInt("3"));
  SetAction(ls, ctx, ls_opts, ocdbt::OcdbtList);

  auto cat_opts = std::make_shared<ocdbt::OcdbtCatOptions>();
  CLI::App* cat = ocdbt->add_subcommand("cat", "Write the raw value of KEY to stdout");
  cat->add_option("DIR", cat_opts->dir, "Database directory (holding manifest.ocdbt)")
      ->required();
  cat->add_option("KEY", cat_opts->key, "The key")->required();
  cat->add_flag("--base64", cat_opts->key_is_base64,
                "KEY is base64 (as ls --json prints keys that are not UTF-8)");
  cat->add_option("--version", cat_opts->generation, "Read generation N instead of the latest")
      ->check(PositiveInt("3"));
  // Binary values are not written to a terminal (text ones, e.g. .zarray, are).
  SetAction(cat, ctx, cat_opts, [](const ocdbt::OcdbtCatOptions& o, std::ostream& out) -> Status {
    if (::isatty(STDOUT_FILENO) != 1) return ocdbt::OcdbtCat(o, out);
    std::ostringstream buf;
    OCKPT_RETURN_IF_ERROR(ocdbt::OcdbtCat(o, buf));
    std::string value = buf.str();
    for (unsigned char ch : value) {
      if (ch == 0 || (ch < 0x20 && ch != '\n' && ch != '\r' && ch != '\t')) {
        return InvalidArgumentError(
            "ocdbt cat: {} is binary ({} bytes); refusing to write it to a terminal: redirect stdout "
            "(> file) or pipe it (| xxd)",
            o.key, value.size());
      }
    }
    out << value;
    return Status::Ok();
  });

  auto versions_opts = std::make_shared<ocdbt::OcdbtVersionsOptions>();
  CLI::App* versions = ocdbt->add_subcommand(
      "versions", "List generations: number, commit time (UTC), number of keys");
  versions->add_option("DIR", versions_opts->dir, "Database directory (holding manifest.ocdbt)")
      ->required();
  versions->add_flag("--json", versions_opts->json, "Print one JSON document");
  SetAction(versions, ctx, versions_opts, ocdbt::OcdbtVersions);
}

}  // namespace ockpt
