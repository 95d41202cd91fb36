// CheckpointSink: what `restore` and `convert` write into, whatever the
// output format (.npy directory, .npz, HDF5, safetensors). The caller hands
// over the leaves of one tree in key-path order; array values stream through
// an ArrayWriter the sink provides, so no format needs a whole array in
// memory unless its own layout forces it.

#ifndef OCKPT_LIB_CHECKPOINT_SINK_H_
#define OCKPT_LIB_CHECKPOINT_SINK_H_

#include <functional>
#include <string>
#include <string_view>

#include "lib/base/context.h"
#include "lib/checkpoint/array_io.h"
#include "lib/checkpoint/tree.h"

namespace ockpt {

class CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;

  // Optional: all leaves that will be written, before the first Write*
  // (formats whose header lists every tensor up front use it).
  virtual Status Begin(const std::vector<LeafRecord>& leaves) { return Status::Ok(); }
  // One array or scalar leaf (leaf.HasArrayData()); `fill` streams its bytes
  // (C order, little-endian) into the writer it is given.
  virtual Status WriteArray(const LeafRecord& leaf,
                            const std::function<Status(ArrayWriter&)>& fill) = 0;
  // Optional, for sinks that keep each array in a file of its own: when
  // concurrent_arrays() is true, WriteArrayData may run on several threads
  // at once (for different leaves, while the calling thread goes on with
  // WriteArray / WriteLeaf), and RecordArray then completes each such leaf
  // in tree order on the calling thread. WriteArrayData + RecordArray has
  // the effect of WriteArray.
  virtual bool concurrent_arrays() const { return false; }
  virtual Status WriteArrayData(const LeafRecord& leaf,
                                const std::function<Status(ArrayWriter&)>& fill) {
    return UnimplementedError("this sink writes one array at a time");
  }
  virtual Status RecordArray(const LeafRecord& leaf) {
    return UnimplementedError("this sink writes one array at a time");
  }
  // A leaf without array data: a string (string_value) or an empty node.
  virtual Status WriteLeaf(const LeafRecord& leaf) = 0;
  // Optional: the source's format_metadata() (CheckpointSource), before
  // Finish. Returns false when the sink cannot keep it (the caller names
  // what is lost in a warning).
  virtual bool KeepFormatMetadata(const Json& format_metadata) { return false; }
  // Called once after the last leaf.
  virtual Status Finish(const Json& custom_metadata) = 0;
};

// The one rule for carrying a source's format_metadata into a sink: nothing
// when there is none; left out with a warning when only part of the tree is
// written (`partial`: it describes the whole tree) or the sink cannot keep it.
inline void CarryFormatMetadata(const Json& format_metadata, CheckpointSink& sink, bool partial,
                                std::string_view what, const Context& ctx) {
  if (format_metadata.is_null() || (format_metadata.is_object() && format_metadata.empty())) return;
  std::string names;
  if (format_metadata.is_object()) {
    for (const auto& [k, v] : format_metadata.items()) names += (names.empty() ? "" : ", ") + k;
  }
  if (partial) {
    ctx.Warn(std::string(what) + ": " + names + " left out: it describes the whole tree, not a selection");
  } else if (!sink.KeepFormatMetadata(format_metadata)) {
    ctx.Warn(std::string(what) + ": " + names + " left out: this output format has no place for it");
  }
}

}  // namespace ockpt

#endif  // OCKPT_LIB_CHECKPOINT_SINK_H_
