// CastingWriter (lib/checkpoint/casting_writer.h).

#include "lib/checkpoint/casting_writer.h"

#include "lib/dtype/cast.h"

namespace ockpt {

Status CastingWriter::WriteAt(uint64_t offset, ByteView data) {
  Bytes out;
  OCKPT_RETURN_IF_ERROR(CastElements(from_, to_, data, &out));
  return next_->WriteAt(offset / SizeOf(from_) * SizeOf(to_), out);
}

}  // namespace ockpt
