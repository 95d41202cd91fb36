// Byte-to-byte codecs used by OCDBT envelopes and zarr chunks: zstd, zlib,
// gzip and blosc (c-blosc 1.x frames). Each wraps its C library at one point
// and turns its error codes into kDataLoss / kUnimplemented Status values.
//
// Decoders take an `expected_size` hint (0 = unknown) and a hard cap on the
// decoded size so that a hostile header cannot make them allocate unbounded
// memory.

#ifndef OCKPT_LIB_COMPRESSION_COMPRESSION_H_
#define OCKPT_LIB_COMPRESSION_COMPRESSION_H_

#include <cstddef>

#include "lib/base/bytes.h"

namespace ockpt {

// One zstd frame, decoded with the streaming API (frames with or without a
// content size and with or without a checksum). Fails on trailing bytes after
// the frame, more than one frame, or output beyond max_size.
Result<Bytes> ZstdDecompress(ByteView input, size_t max_size);
// One frame with the content size in its header (as ZSTD_compress writes).
// level 0 = libzstd's default (3). With `checksum` the frame also carries
// its content checksum (ZSTD_c_checksumFlag: XXH64 of the decoded bytes,
// low 32 bits), which every zstd decoder checks; without it the frame is
// byte-identical to ZSTD_compress's (and TensorStore's).
Result<Bytes> ZstdCompress(ByteView input, int level, bool checksum = false);

// zlib stream (RFC 1950) or gzip member (RFC 1952).
Result<Bytes> ZlibDecompress(ByteView input, size_t max_size, bool gzip);
Result<Bytes> ZlibCompress(ByteView input, int level, bool gzip);

// A c-blosc 1.x frame (any inner compressor the library supports).
Result<Bytes> BloscDecompress(ByteView input, size_t max_size);

// Cap for decoded blobs whose size is not otherwise bounded (OCDBT nodes).
inline constexpr size_t kMaxDecodedBlobBytes = size_t{1} << 32;

}  // namespace ockpt

#endif  // OCKPT_LIB_COMPRESSION_COMPRESSION_H_
