// The format-neutral picture of a checkpoint item: a flat, sorted list of
// leaf records, each with its key path. Every reader (Orbax, HDF5, npz, ...)
// produces it and every writer consumes it; `metadata --json` and
// `_tree.json` print it.

#ifndef OCKPT_LIB_CHECKPOINT_TREE_H_
#define OCKPT_LIB_CHECKPOINT_TREE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/base/result.h"
#include "lib/dtype/dtype.h"

namespace ockpt {

using Json = nlohmann::ordered_json;

// Orbax key types: 1 = sequence index, 2 = dict key or attribute.
enum class KeyType : int { kSequence = 1, kDict = 2 };

struct PathKey {
  std::string key;
  KeyType type = KeyType::kDict;
  friend bool operator==(const PathKey&, const PathKey&) = default;
};
using KeyPath = std::vector<PathKey>;

// "a.b.0.c" (Orbax's parameter name: keys joined with '.', not escaped).
std::string DottedName(const KeyPath& path);

// Whether a dotted leaf name matches a glob (fnmatch without flags: '*' also
// crosses '.'). The one glob rule of --select and --spec.
bool MatchesGlob(const std::string& glob, const std::string& name);

// Value types as Orbax records them in _METADATA.
inline constexpr std::string_view kJaxArray = "jax.Array";
inline constexpr std::string_view kNpArray = "np.ndarray";
inline constexpr std::string_view kScalar = "scalar";
inline constexpr std::string_view kString = "string";

// True for "Dict", "List", "Tuple", "None", "NamedTuple" (no stored data).
bool IsEmptyNodeType(std::string_view value_type);

using Shape = std::vector<int64_t>;

struct LeafRecord {
  KeyPath keypath;
  std::string value_type;             // see above; "Unknown" when not recorded
  std::optional<DType> dtype;         // arrays and scalars
  std::optional<Shape> shape;
  std::optional<Shape> chunk_shape;
  std::optional<Shape> write_shape;
  std::optional<std::string> compressor;  // "zstd:1", "none", "blosc:lz4:5", ...
  Json sharding;                      // as stored in _sharding, or null
  std::optional<uint64_t> stored_bytes;
  std::optional<std::string> string_value;  // for value_type "string"
  // array_metadatas' "ext_metadata" for this array (e.g. a PRNG key's
  // {"random_key_impl": ...}), or null; carried through save and restore.
  Json ext_metadata;
  // A piece of a sharded restore (docs/sharding.md): `shape` is the
  // piece's, global_shape the whole array's, and index the piece's
  // [start, stop) per dimension in it ("global_shape" and "index" in
  // _tree.json). Unset for whole arrays.
  std::optional<Shape> global_shape;
  std::optional<std::vector<std::pair<int64_t, int64_t>>> index;

  std::string name() const { return DottedName(keypath); }
  // An array or scalar with data to read.
  bool HasArrayData() const { return dtype.has_value() && shape.has_value(); }

  // The record of `metadata --json` / `_tree.json`.
  Json ToJson() const;
  static Result<LeafRecord> FromJson(const Json& j);
};

// Sorts leaves by key path (key strings compared bytewise, level by level).
void SortLeaves(std::vector<LeafRecord>* leaves);

int64_t NumElements(const Shape& shape);
std::string ShapeString(const Shape& shape);  // "[2, 3]"

}  // namespace ockpt

#endif  // OCKPT_LIB_CHECKPOINT_TREE_H_
