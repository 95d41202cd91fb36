// Feeds the input to StreamDecoder (lib/compression/stream_decoder.h). First
// byte: codec (none, zstd, zlib, gzip) in bits 0-1, read piece size in bits
// 2-5, skip-between-reads in bit 6; the rest is the encoded stream, handed to
// the decoder through its ReadInput callback. Decoding stops after 16 MiB of
// output (a small stream may legitimately expand that far).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "lib/compression/stream_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  if (size < 1) return 0;
  uint8_t flags = data[0];
  ByteView input(reinterpret_cast<const char*>(data + 1), size - 1);
  auto read = [input](uint64_t offset, size_t n, char* dst) -> Status {
    if (offset > input.size() || n > input.size() - offset) {
      return InternalError("decoder read {} bytes at {} of a {}-byte input", n, offset,
                           input.size());
    }
    std::memcpy(dst, input.data() + offset, n);
    return Status::Ok();
  };
  static constexpr StreamDecoder::Codec kCodecs[] = {
      StreamDecoder::Codec::kNone, StreamDecoder::Codec::kZstd, StreamDecoder::Codec::kZlib,
      StreamDecoder::Codec::kGzip};
  auto decoder = StreamDecoder::Create(kCodecs[flags & 3], input.size(), read);
  if (!decoder.ok()) return 0;
  size_t piece = size_t{1} << (((flags >> 2) & 15) + 4);  // 16 B .. 512 KiB
  std::vector<char> buf(piece);
  uint64_t total = 0;
  while (total < (uint64_t{16} << 20)) {
    auto n = (*decoder)->Read(buf.data(), piece);
    if (!n.ok() || *n == 0) break;
    total += *n;
    if (flags & 64) {
      auto skipped = (*decoder)->Skip(piece / 2 + 1);
      if (!skipped.ok()) break;
      total += *skipped;
    }
  }
  // Errors stick; reading after the end gives 0.
  (void)(*decoder)->Read(buf.data(), piece);
  return 0;
}
