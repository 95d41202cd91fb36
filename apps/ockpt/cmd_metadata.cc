// ockpt metadata PATH [--json] [--step N] [--item NAME]
//
// PATH: a checkpoint (item, checkpoint, manager root), or any file or
// directory the format registry reads (.npz, .h5, .safetensors, a single
// .npy file, a .npy directory). Both print totals: leaves, parameters, bytes
// stored and decoded.

#include <fmt/format.h>

#include <memory>

#include "apps/ockpt/commands.h"
#include "lib/base/json.h"
#include "formats/orbax/checkpoint_reader.h"
#include "formats/registry.h"
#include "lib/base/file.h"
#include "lib/checkpoint/progress.h"

namespace ockpt {
namespace {

struct Totals {
  uint64_t leaves = 0, arrays = 0, parameters = 0, decoded_bytes = 0;
  std::optional<uint64_t> stored_bytes;  // when every array's is known

  void Add(const std::vector<LeafRecord>& leaves, bool stored_known) {
    for (const LeafRecord& r : leaves) {
      ++this->leaves;
      if (!r.HasArrayData()) continue;
      ++arrays;
      parameters += static_cast<uint64_t>(NumElements(*r.shape));
      decoded_bytes += LeafBytes(r);
      if (stored_known && r.stored_bytes) {
        stored_bytes = stored_bytes.value_or(0) + *r.stored_bytes;
      }
    }
  }
  Json ToJson() const {
    return Json{{"leaves", leaves},
                {"arrays", arrays},
                {"parameters", parameters},
                {"stored_bytes", stored_bytes ? Json(*stored_bytes) : Json(nullptr)},
                {"decoded_bytes", decoded_bytes}};
  }
  std::string Text() const {
    return fmt::format("totals: {} leaves ({} arrays), {} parameters, {} stored, {} decoded\n", leaves, arrays,
                       parameters, stored_bytes ? fmt::format("{} bytes", *stored_bytes) : std::string("? bytes"),
                       fmt::format("{} bytes", decoded_bytes));
  }
};

// A file or .npy directory, through the format registry.
// Whether a path is, by the locator's one rule, not a checkpoint (flax
// msgpack files are checkpoints), or a .npy directory with its _tree.json.
bool IsPlainSource(const std::string& path) {
  auto kind = orbax::Classify(path);
  if (!kind.ok()) return false;
  if (IsDirectory(path) && IsRegularFile(JoinPath(path, "_tree.json"))) return true;
  return *kind == orbax::LocationKind::kNotCheckpoint;
}

Result<int> DescribeSource(const std::string& path, bool json, const AppContext& ctx) {
  OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<CheckpointSource> src, formats::OpenSource(path, {}, ctx.threads));
  Totals totals;
  totals.Add(src->leaves(), /*stored_known=*/false);
  std::string format = IsDirectory(path) ? "npy" : formats::FormatFromExtension(path);
  if (format.empty()) format = path.size() > 4 && path.substr(path.size() - 4) == ".npy" ? "npy" : "file";
  if (json) {
    Json leaves = Json::array();
    for (const LeafRecord& r : src->leaves()) leaves.push_back(r.ToJson());
    Json item{{"kind", "pytree"},          {"handler", nullptr},
              {"ocdbt", false},            {"zarr_format", nullptr},
              {"custom_metadata", src->custom_metadata()}, {"leaves", std::move(leaves)}};
    Json doc{{"path", path},
             {"kind", "file"},
             {"format", format},
             {"step", nullptr},
             {"checkpoint_metadata", nullptr},
             {"items", Json{{"", std::move(item)}}},
             {"totals", totals.ToJson()}};
    *ctx.out << DumpJson(doc, 2) << "\n";
    return 0;
  }
  *ctx.out << fmt::format("{}: {} file{}, {} leaves\n", path, format, IsDirectory(path) ? " directory" : "",
                          src->leaves().size());
  if (!src->custom_metadata().is_null()) *ctx.out << "custom_metadata: " << DumpJson(src->custom_metadata()) << "\n";
  for (const LeafRecord& r : src->leaves()) {
    std::string what = r.HasArrayData() ? fmt::format("{}{}", Name(*r.dtype), ShapeString(*r.shape))
                                        : (r.string_value ? DumpJson(Json(*r.string_value)) : std::string("-"));
    *ctx.out << fmt::format("  {}  {}  {}\n", r.name().empty() ? "(root)" : r.name(), r.value_type, what);
  }
  *ctx.out << totals.Text();
  return 0;
}

}  // namespace

void RegisterMetadata(CLI::App& app, AppContext& ctx) {
  struct Opts {
    std::string path;
    bool json = false;
    std::optional<int64_t> step;
    std::optional<std::string> item;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "metadata", "Describe a checkpoint's (or .npz/.h5/.safetensors/.npy file's) tree, dtypes and shapes "
                  "(reads no array data)");
  cmd->add_option("PATH", opts->path,
                  "Item, checkpoint or manager root; or an .npz, .h5, .safetensors or .npy file or a .npy directory")
      ->required();
  cmd->add_flag("--json", opts->json, "Print one JSON document");
  cmd->add_option("--step", opts->step, "Step of a manager root (default: latest committed)")->check(NonNegativeInt("100"));
  cmd->add_option("--item", opts->item, "Only this item of a composite checkpoint");
  cmd->callback([opts, &ctx] {
    ctx.action = [opts, &ctx]() -> Result<int> {
      if (IsPlainSource(opts->path) && !opts->step && !opts->item) {
        return DescribeSource(opts->path, opts->json, ctx);
      }
      orbax::OpenOptions open{opts->step, opts->item};
      OCKPT_ASSIGN_OR_RETURN(orbax::Checkpoint ckpt, orbax::OpenCheckpoint(opts->path, open));
      Totals totals;
      for (const std::string& note : ckpt.notes) ctx.Warn(note);
      for (const auto& item : ckpt.items) {
        if (!item.error.ok()) ctx.Warn(item.error.message());
        else if (item.pytree && !item.pytree->leaf_error().ok()) ctx.Warn(item.pytree->leaf_error().message());
        if (item.pytree) {
          for (const std::string& w : item.pytree->warnings()) ctx.Warn(w);
          totals.Add(item.pytree->leaves(), /*stored_known=*/true);
        }
      }
      if (opts->json) {
        Json doc = orbax::CheckpointToJson(ckpt);
        doc["totals"] = totals.ToJson();
        *ctx.out << DumpJson(doc, 2) << "\n";
      } else {
        orbax::PrintCheckpointText(ckpt, *ctx.out);
        *ctx.out << "\n" << totals.Text();
      }
      return 0;
    };
  });
}

}  // namespace ockpt
