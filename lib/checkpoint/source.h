// CheckpointSource: what `save` and `convert` read from, whatever the input
// format (a .npy directory, an .npz, an HDF5 file, another checkpoint): the
// leaf records of one tree and random access to each array's bytes.

#ifndef OCKPT_LIB_CHECKPOINT_SOURCE_H_
#define OCKPT_LIB_CHECKPOINT_SOURCE_H_

#include <memory>
#include <vector>

#include "lib/checkpoint/array_io.h"
#include "lib/checkpoint/tree.h"

namespace ockpt {

class CheckpointSource {
 public:
  virtual ~CheckpointSource() = default;

  // Sorted by key path. Array and scalar leaves have dtype and shape; string
  // leaves have string_value; empty nodes have only a value type.
  virtual const std::vector<LeafRecord>& leaves() const = 0;
  // The tree's custom metadata (null when none).
  virtual const Json& custom_metadata() const = 0;
  // What the source's own format records beyond the tree and its custom
  // metadata, for a sink of the same format to write back (Orbax: the
  // checkpoint's custom metadata, _METADATA members ockpt does not model);
  // an object, or null when none. Carried opaquely through `_tree.json`.
  virtual Json format_metadata() const { return nullptr; }
  // Random access to leaf i's values (C order, little-endian elements).
  // REQUIRES: leaves()[i].HasArrayData().
  virtual Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const = 0;
  // For messages: "dir/" or "file.npz".
  virtual std::string Describe() const = 0;
  // What opening the source skipped or could not use (a directory walk's
  // symlink loops, ...), one message each, for the caller to warn about.
  virtual std::vector<std::string> warnings() const { return {}; }
};

}  // namespace ockpt

#endif  // OCKPT_LIB_CHECKPOINT_SOURCE_H_
