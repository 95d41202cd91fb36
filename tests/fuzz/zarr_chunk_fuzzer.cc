// Feeds the input to ZarrArray chunk decoding over an in-memory KvStore.
//
// Input: [u8 flags][u16 LE metadata length][metadata JSON][chunk value].
// flags bit 0: zarr v3 (zarr.json) instead of v2 (.zarray); bit 1: no stored
// chunk (fill value). The chunk value is stored under chunk 0's key; then
// ReadChunk(0), OpenChunkReader(0) + Read in pieces where CanStreamChunks(),
// and a whole-array Read when the array is small. Arrays whose chunks exceed
// 64 MiB or whose whole size exceeds 16 MiB (or 4096 chunks) are skipped for those reads (a
// legitimate allocation of that size is not a bug; an allocation driven by
// the chunk *value* is).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/zarr/zarr_array.h"
#include "lib/checkpoint/array_io.h"
#include "lib/dtype/dtype.h"
#include "lib/kvstore/kvstore.h"
#include "tests/support/memory_kvstore.h"

namespace {

using namespace ockpt;

// Discards what it is given (bounds-checked against the array size).
class NullWriter final : public ArrayWriter {
 public:
  explicit NullWriter(uint64_t size) : size_(size) {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    if (offset > size_ || data.size() > size_ - offset) {
      return InternalError("write of {} bytes at {} outside {}", data.size(), offset, size_);
    }
    return Status::Ok();
  }

 private:
  uint64_t size_;
};

constexpr uint64_t kMaxChunkBytes = uint64_t{64} << 20;
constexpr uint64_t kMaxArrayBytes = uint64_t{16} << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  uint8_t flags = data[0];
  size_t md_len = data[1] | (size_t{data[2]} << 8);
  if (md_len > size - 3) return 0;
  ByteView md(reinterpret_cast<const char*>(data + 3), md_len);
  ByteView chunk(reinterpret_cast<const char*>(data + 3 + md_len), size - 3 - md_len);

  testing::MemoryKvStore store;
  auto array = zarr::ZarrArray::OpenWithMetadata(&store, "a/", md, (flags & 1) ? 3 : 2);
  if (!array.ok()) return 0;
  const auto& summary = array->summary();
  Shape index(summary.shape.size(), 0);
  if (!(flags & 2)) store.values[array->ChunkKey(index)] = Bytes(chunk);
  (void)array->ReadBatchSize();
  if (array->ChunkBytes() > kMaxChunkBytes) return 0;

  zarr::ReadOptions options;
  (void)array->ReadChunk(index, options);
  options.missing_chunks_are_errors = true;
  (void)array->ReadChunks({index, index}, options);
  if (array->CanStreamChunks()) {
    auto reader = array->OpenChunkReader(index, options);
    if (reader.ok()) {
      size_t element = SizeOf(summary.dtype);
      size_t piece = element * (1 + (flags >> 4));
      std::vector<char> buf(piece);
      for (int i = 0; i < 4096 && (*reader)->position() < (*reader)->size(); ++i) {
        if (!(*reader)->Read(buf.data(), piece).ok()) break;
        if ((flags & 4) && (*reader)->size() - (*reader)->position() >= element) {
          if (!(*reader)->Skip(element).ok()) break;
        }
      }
    }
  }

  uint64_t total = SizeOf(summary.dtype);
  for (int64_t d : summary.shape) {
    if (d != 0 && total > kMaxArrayBytes / static_cast<uint64_t>(d)) return 0;
    total *= static_cast<uint64_t>(d);
  }
  if (total > kMaxArrayBytes) return 0;
  uint64_t chunks = 1;
  for (int64_t n : array->ChunkGridShape()) {
    chunks *= static_cast<uint64_t>(n);
    if (chunks > 4096) return 0;
  }
  NullWriter out(total);
  options.missing_chunks_are_errors = false;
  options.stream_chunks_above = (flags & 8) ? 0 : uint64_t{64} << 20;
  (void)array->Read(out, options);
  return 0;
}
