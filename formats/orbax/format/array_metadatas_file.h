// `<item>/array_metadatas/process_<N>`: per-process array metadata, written by
// Orbax with Python's json.dumps:
//
//   {"array_metadatas": [{"array_metadata": {"param_name": "a", "write_shape": [8],
//                                            "chunk_shape": [8], "ext_metadata": null}}, ...]}
//
// ext_metadata is null except for arrays that need it (a PRNG key's
// {"random_key_impl": ...}). Unknown members are kept (JsonFields).

#ifndef OCKPT_FORMATS_ORBAX_FORMAT_ARRAY_METADATAS_FILE_H_
#define OCKPT_FORMATS_ORBAX_FORMAT_ARRAY_METADATAS_FILE_H_

#include <optional>
#include <string>
#include <vector>

#include "formats/orbax/format/json_fields.h"

namespace ockpt::orbax::format {

struct ArrayMetadata {
  std::optional<std::string> param_name;  // dotted name
  std::optional<Shape> write_shape;
  std::optional<Shape> chunk_shape;
  std::optional<Json> ext_metadata;       // present-and-null is written as null
  JsonFields fields;
};

struct ArrayMetadatasEntry {
  ArrayMetadata array_metadata;
  JsonFields fields;
};

struct ArrayMetadatasFile {
  std::vector<ArrayMetadatasEntry> array_metadatas;
  JsonFields fields;
};

// kDataLoss naming `path` unless the text is
// {"array_metadatas": [{"array_metadata": {...}}, ...]}.
Result<ArrayMetadatasFile> DecodeArrayMetadatasFile(ByteView text, std::string_view path);
std::string EncodeArrayMetadatasFile(const ArrayMetadatasFile& file);

}  // namespace ockpt::orbax::format

#endif  // OCKPT_FORMATS_ORBAX_FORMAT_ARRAY_METADATAS_FILE_H_
