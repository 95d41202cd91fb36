// The legacy aggregate `checkpoint` file: a msgpack tree written by old
// Orbax / Flax / t5x (docs/format/orbax.md §6.4). Leaves are
//   * "PLACEHOLDER://<name>": the array is stored as zarr under <name>/;
//   * ext type 1 (ndarray) / 3 (numpy scalar): msgpack (shape, dtype, bytes);
//   * ext type 2 (complex), 4 (tuple), plain ints, floats, bools, strings, nil;
//   * {"__msgpack_chunked_array__": true, "shape": ..., "chunks": ...}: an
//     array flax split into flat pieces (joined into one inline array);
//   * a TensorStore spec dict {"driver": "zarr", "kvstore": {"path": ...},
//     "metadata": {...}} (t5x): the array is zarr at that path.

#ifndef OCKPT_FORMATS_ORBAX_LEGACY_MSGPACK_H_
#define OCKPT_FORMATS_ORBAX_LEGACY_MSGPACK_H_

#include <optional>
#include <vector>

#include "lib/base/bytes.h"
#include "lib/checkpoint/tree.h"

namespace ockpt::orbax {

struct LegacyLeaf {
  KeyPath keypath;
  enum class Kind { kInlineArray, kPlaceholder, kZarrSpec, kString, kNone, kEmptyDict, kEmptyList };
  Kind kind = Kind::kNone;
  DType dtype = DType::kUInt8;  // kInlineArray
  Shape shape;                  // kInlineArray
  Bytes data;                   // kInlineArray: C-order little-endian bytes
  std::string zarr_path;        // kPlaceholder / kZarrSpec: key prefix of the zarr array ("a/")
  std::string zarray_json;      // kZarrSpec: .zarray text built from the spec
  std::string text;             // kString
};

// Decodes a whole msgpack file (bounded by its size): Orbax's legacy
// `checkpoint` file and flax's own checkpoint files (flax.serialization:
// ndarray, complex and numpy-scalar extension types, arrays above 1 GiB split
// into `__msgpack_chunked_array__` dicts, which are joined here). kDataLoss
// on malformed input.
Result<std::vector<LegacyLeaf>> DecodeLegacyMsgpack(ByteView data);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_LEGACY_MSGPACK_H_
