// The restore output of a composite checkpoint or manager step, written by
// restore and read back by save (docs/format/orbax.md, "Restore output"):
// OUT/<item>/ per PyTree item (.npy files + _tree.json), OUT/<item>.json per
// JSON item (the source file's bytes), OUT/<item>/ per opaque item (its
// files copied byte for byte) and OUT/_checkpoint.json, which names the
// items in order with their kind and handler typestr and holds the
// checkpoint's _CHECKPOINT_METADATA custom_metadata. This file is the one
// place that decides where each item goes and what _checkpoint.json holds;
// it also owns the byte-for-byte copy of an opaque item (save and restore).

#ifndef OCKPT_FORMATS_ORBAX_RESTORED_COMPOSITE_H_
#define OCKPT_FORMATS_ORBAX_RESTORED_COMPOSITE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/orbax/checkpoint_reader.h"
#include "lib/base/context.h"

namespace ockpt::orbax {

inline constexpr std::string_view kRestoredCheckpointFile = "_checkpoint.json";

struct RestoredItem {
  std::string name;
  ItemKind kind = ItemKind::kPyTree;
  Json handler;  // the source's item_handlers typestr, or null
};

// OUT/_checkpoint.json.
struct RestoredCheckpoint {
  std::vector<RestoredItem> items;  // in the source's item order
  Json custom_metadata;             // _CHECKPOINT_METADATA custom_metadata, or null
};

// Where item `name` of `kind` lives under OUT: "<name>" (a directory) or
// "<name>.json" (a JSON item).
std::string RestoredItemPath(std::string_view name, ItemKind kind);

// Indented JSON (2 spaces) and a newline, as _tree.json.
std::string EncodeRestoredCheckpoint(const RestoredCheckpoint& file);
// kDataLoss naming `path` when the text is not such a file (unknown kind,
// an item name that is not a plain file name, a name given twice).
Result<RestoredCheckpoint> DecodeRestoredCheckpoint(ByteView text, const std::string& path);

// Writes dir/_checkpoint.json.
Status WriteRestoredCheckpoint(const std::string& dir, const RestoredCheckpoint& file);
// Reads dir/_checkpoint.json; nullopt when dir has none.
Result<std::optional<RestoredCheckpoint>> ReadRestoredCheckpoint(const std::string& dir);

// Copies the files of an opaque item (a custom handler's directory) at
// `root` into `dest`, byte for byte, in pieces of 4 MiB. Only regular
// files and directories inside `root` are copied (CheckConfined); anything
// else is named in a warning. An object-store URL is copied object by
// object; an http(s) URL cannot be listed: kUnimplemented, nothing written.
Status CopyItemFiles(const std::string& root, const std::string& dest, const Context& ctx);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_RESTORED_COMPOSITE_H_
