// `_METADATA`: Orbax's tree metadata JSON (docs/format/orbax.md §2), decoded
// into leaf records. The entry keys ("('a', 'b')") are never parsed: the
// structure comes from each entry's key_metadata.

#ifndef OCKPT_FORMATS_ORBAX_TREE_METADATA_H_
#define OCKPT_FORMATS_ORBAX_TREE_METADATA_H_

#include <optional>
#include <vector>

#include "lib/base/bytes.h"
#include "lib/checkpoint/tree.h"

namespace ockpt::orbax {

struct TreeMetadataEntry {
  KeyPath keypath;
  std::string value_type;
  bool skip_deserialize = false;
  std::optional<Shape> write_shape;
};

struct TreeMetadata {
  std::vector<TreeMetadataEntry> entries;  // in file order
  std::optional<bool> use_ocdbt;           // absent = unknown
  bool use_zarr3 = false;
  bool store_array_data_equal_to_fill_value = false;
  Json custom_metadata;                    // null when absent
  // The other top-level members (newer Orbax's value_metadata_tree, ...),
  // written back unchanged by re-saves; an object, empty when none.
  Json extras = Json::object();
};

// Parses the text of a _METADATA file; kDataLoss with the JSON path on error.
Result<TreeMetadata> DecodeTreeMetadata(ByteView json_text);

// Parses JSON text without throwing (kDataLoss on syntax errors).
Result<Json> ParseJson(ByteView text);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_TREE_METADATA_H_
