// Progress reporting for tree copies: wrappers that announce the bytes of
// the arrays they will move (ProgressSink::AddTotal) and count the bytes
// that pass through them (AddDone), into the ProgressSink of a Context
// (lib/base/context.h). Without a sink they are not installed.

#ifndef OCKPT_LIB_CHECKPOINT_PROGRESS_H_
#define OCKPT_LIB_CHECKPOINT_PROGRESS_H_

#include <memory>

#include "lib/base/context.h"
#include "lib/checkpoint/array_io.h"
#include "lib/checkpoint/source.h"

namespace ockpt {

// Bytes of a leaf's decoded value (0 for leaves without array data).
uint64_t LeafBytes(const LeafRecord& leaf);

// Forwards to `inner` and reports every byte written as done.
class ProgressWriter final : public ArrayWriter {
 public:
  ProgressWriter(ArrayWriter* inner, ProgressSink* sink) : inner_(inner), sink_(sink) {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    Status s = inner_->WriteAt(offset, data);
    if (s.ok() && sink_ != nullptr) sink_->AddDone(data.size());
    return s;
  }
  bool concurrent() const override { return inner_->concurrent(); }
  Status CopyFromFile(uint64_t offset, const RandomAccessFile& src, uint64_t src_offset,
                      uint64_t n) override {
    Status s = inner_->CopyFromFile(offset, src, src_offset, n);
    if (s.ok() && sink_ != nullptr) sink_->AddDone(n);
    return s;
  }

 private:
  ArrayWriter* inner_;
  ProgressSink* sink_;
};

// Wraps a source: announces the bytes of all its arrays at once and counts
// every byte read from them. Returns `source` unchanged when ctx has no
// progress sink (or source is null).
std::unique_ptr<CheckpointSource> WithProgress(std::unique_ptr<CheckpointSource> source,
                                               const Context& ctx);

}  // namespace ockpt

#endif  // OCKPT_LIB_CHECKPOINT_PROGRESS_H_
