// `<item>/_METADATA`: the PyTree item's tree metadata, written by Orbax with
// Python's json.dumps (", " and ": " separators, insertion order):
//
//   {"tree_metadata": {"('a', 'b')": {"key_metadata": [{"key": "a", "key_type": 2}, ...],
//                                     "value_metadata": {"value_type": "jax.Array",
//                                                        "skip_deserialize": false,
//                                                        "write_shape": [8]}}, ...},
//    "use_ocdbt": true, "use_zarr3": false,
//    "store_array_data_equal_to_fill_value": true,
//    "custom_metadata": null, "value_metadata_tree": ...}
//
// Every object keeps its member order and unmodelled members (JsonFields), so
// Encode(Decode(text)) == text for what Orbax writes.

#ifndef OCKPT_FORMATS_ORBAX_FORMAT_TREE_METADATA_FILE_H_
#define OCKPT_FORMATS_ORBAX_FORMAT_TREE_METADATA_FILE_H_

#include <optional>
#include <string>
#include <vector>

#include "formats/orbax/format/json_fields.h"

namespace ockpt::orbax::format {

struct KeyMetadata {
  Json key;                         // a string (dict key / sequence index as text) or an integer
  std::optional<int64_t> key_type;  // 1 sequence, 2 dict
  JsonFields fields;
};

struct ValueMetadata {
  std::optional<std::string> value_type;  // "jax.Array", "np.ndarray", "scalar", "Dict", ...
  std::optional<bool> skip_deserialize;
  std::optional<Shape> write_shape;       // jax.Array only
  JsonFields fields;
};

struct TreeMetadataFileEntry {
  std::string key;  // Python repr of the key tuple, e.g. "('a', 'b')"; never parsed
  std::vector<KeyMetadata> key_metadata;
  ValueMetadata value_metadata;
  JsonFields fields;
};

struct TreeMetadataFile {
  std::vector<TreeMetadataFileEntry> tree_metadata;  // in file order
  std::optional<bool> use_ocdbt;
  std::optional<bool> use_zarr3;
  std::optional<bool> store_array_data_equal_to_fill_value;
  std::optional<Json> custom_metadata;      // present-and-null is written as null
  std::optional<Json> value_metadata_tree;  // newer Orbax versions
  JsonFields fields;
};

// kDataLoss naming `path` when the text is not JSON or the structure above is
// broken (tree_metadata, key_metadata, value_metadata of the wrong JSON type).
Result<TreeMetadataFile> DecodeTreeMetadataFile(ByteView text, std::string_view path);
std::string EncodeTreeMetadataFile(const TreeMetadataFile& file);

}  // namespace ockpt::orbax::format

#endif  // OCKPT_FORMATS_ORBAX_FORMAT_TREE_METADATA_FILE_H_
