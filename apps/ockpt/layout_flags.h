// The checkpoint layout flags shared by `ockpt save` and `ockpt convert`
// (checkpoint outputs): --layout, --zarr3, --no-ocdbt, --compression, --chunk-bytes,
// --chunk-shape, --no-zstd-checksum, --sharding, and their translation into orbax::ArrayLayout
// (formats/orbax/save.h).

#ifndef OCKPT_APPS_OCKPT_LAYOUT_FLAGS_H_
#define OCKPT_APPS_OCKPT_LAYOUT_FLAGS_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "apps/ockpt/cli_support.h"
#include "formats/orbax/save.h"

namespace ockpt {

// --compression zstd[:LEVEL]|none ("" and "zstd": Orbax's default level).
inline Status ParseCompressionFlag(const std::string& text, orbax::ArrayLayout* layout) {
  if (text.empty() || text == "zstd") return Status::Ok();
  if (text == "none") {
    layout->compress = false;
    return Status::Ok();
  }
  if (text.rfind("zstd:", 0) == 0) {
    try {
      size_t used = 0;
      int level = std::stoi(text.substr(5), &used);
      if (used == text.size() - 5 && level >= -131072 && level <= 22) {
        layout->zstd_level = level;
        return Status::Ok();
      }
    } catch (const std::exception&) {
    }
    return InvalidArgumentError("--compression: bad zstd level in '{}'", text);
  }
  return InvalidArgumentError("--compression must be zstd[:LEVEL] or none, not '{}'", text);
}

// --chunk-shape A,B,...: positive integers separated by single commas.
inline Result<Shape> ParseChunkShapeFlag(const std::string& text) {
  Shape shape;
  std::string_view rest = text;
  while (true) {
    size_t comma = rest.find(',');
    std::string part(rest.substr(0, comma));
    try {
      size_t used = 0;
      long long v = std::stoll(part, &used);
      if (used != part.size() || v <= 0) throw std::out_of_range("");
      shape.push_back(v);
    } catch (const std::exception&) {
      return InvalidArgumentError("--chunk-shape: '{}' is not a list of positive integers", text);
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return shape;
}

struct LayoutFlags {
  bool zarr3 = false, no_ocdbt = false, no_zstd_checksum = false;
  std::string compression, chunk_shape, sharding, api_layout;
  std::optional<uint64_t> chunk_bytes;

  // The layout the flags give; InvalidArgument (exit 2) names a bad flag.
  Result<orbax::ArrayLayout> Layout() const {
    orbax::ArrayLayout layout;
    layout.zarr3 = zarr3;
    if (api_layout == "v1") {
      layout.v1 = true;
      layout.zarr3 = true;  // v1 writes zarr3 + sharding_indexed
    } else if (!api_layout.empty() && api_layout != "v0") {
      return InvalidArgumentError("--layout must be v0 or v1, not '{}'", api_layout);
    }
    layout.ocdbt = !no_ocdbt;
    layout.zstd_checksum = !no_zstd_checksum;
    OCKPT_RETURN_IF_ERROR(ParseCompressionFlag(compression, &layout));
    layout.chunk_bytes = chunk_bytes;
    if (sharding == "cpu") {
      layout.sharding = orbax::ArrayLayout::Sharding::kCpu;
    } else if (sharding == "none") {
      layout.sharding = orbax::ArrayLayout::Sharding::kNone;
    } else if (!sharding.empty()) {
      return InvalidArgumentError("--sharding must be none or cpu, not '{}'", sharding);
    }
    if (!chunk_shape.empty()) {
      OCKPT_ASSIGN_OR_RETURN(Shape shape, ParseChunkShapeFlag(chunk_shape));
      layout.chunk_shape = shape;
    }
    return layout;
  }
};

// Each command words the help of these flags its own way.
struct LayoutFlagHelp {
  std::string zarr3, no_ocdbt, compression, chunk_bytes, chunk_shape;
};

inline void AddLayoutFlags(CLI::App* cmd, LayoutFlags& f, const LayoutFlagHelp& help) {
  cmd->add_option("--layout", f.api_layout,
                  "v0 (default): as orbax-checkpoint's StandardCheckpointer / CheckpointManager write; "
                  "v1: as its v1 API (save_pytree, save_checkpointables) writes");
  cmd->add_flag("--zarr3", f.zarr3, help.zarr3);
  cmd->add_flag("--no-ocdbt", f.no_ocdbt, help.no_ocdbt);
  cmd->add_option("--compression", f.compression, help.compression);
  // 4M, 1GiB, 65536 (cli_support.h ParseSize); 0 and junk: exit 2.
  cmd->add_option("--chunk-bytes", f.chunk_bytes, help.chunk_bytes + " (suffixes: 4M, 1GiB, 500KB)")
      ->transform(PositiveSize());
  cmd->add_option("--chunk-shape", f.chunk_shape, help.chunk_shape);
  cmd->add_option("--sharding", f.sharding,
                  "none|cpu: what _sharding records for jax.Array leaves without a known sharding. "
                  "Default: SingleDeviceSharding cpu:0 and a warning naming them; cpu: the same "
                  "without the warning; none: no _sharding at all (a warning names recorded "
                  "shardings it leaves out)");
  cmd->add_flag("--no-zstd-checksum", f.no_zstd_checksum,
                "zstd frames without their content checksum: TensorStore's bytes exactly, but "
                "`ockpt verify` cannot then prove the chunks (see docs/cli.md, verify)");
}

}  // namespace ockpt

#endif  // OCKPT_APPS_OCKPT_LAYOUT_FLAGS_H_
