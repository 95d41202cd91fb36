// CastingWriter: an ArrayWriter that casts each piece to another dtype
// (lib/dtype/cast.h) before passing it on, e.g. for restore --dtype and
// convert --dtype.

#ifndef OCKPT_LIB_CHECKPOINT_CASTING_WRITER_H_
#define OCKPT_LIB_CHECKPOINT_CASTING_WRITER_H_

#include <cstdint>

#include "lib/base/bytes.h"
#include "lib/checkpoint/array_io.h"
#include "lib/dtype/dtype.h"

namespace ockpt {

// Casts each piece from `from` to `to` (CastElements) and writes it to
// `next` at the same element offset. Pieces must hold whole elements of
// `from`; the cast itself must be valid (CheckCast).
class CastingWriter final : public ArrayWriter {
 public:
  CastingWriter(ArrayWriter* next, DType from, DType to) : next_(next), from_(from), to_(to) {}
  Status WriteAt(uint64_t offset, ByteView data) override;
  bool concurrent() const override { return next_->concurrent(); }

 private:
  ArrayWriter* next_;
  DType from_, to_;
};

}  // namespace ockpt

#endif  // OCKPT_LIB_CHECKPOINT_CASTING_WRITER_H_
