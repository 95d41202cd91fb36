// The parsed, validated description of one zarr array (v2 or v3): what the
// reader needs to find, decode and place every chunk. ParseZarrV2Metadata
// (metadata_v2.h) and ParseZarrV3Metadata (metadata_v3.h) produce it.

#ifndef OCKPT_FORMATS_ZARR_METADATA_H_
#define OCKPT_FORMATS_ZARR_METADATA_H_

#include <string>
#include <string_view>

#include "formats/zarr/codec.h"
#include "lib/base/bytes.h"
#include "lib/checkpoint/tree.h"
#include "lib/dtype/dtype.h"

namespace ockpt::zarr {

struct ChunkKeyEncoding {
  // v3 "default": "c" + separator-joined indices ("c/0/1", rank 0: "c").
  // Otherwise v2 style: "0.1" (rank 0: "0").
  bool v3_default = false;
  char separator = '.';
};

struct ZarrMetadata {
  int zarr_format = 2;
  DType dtype = DType::kUInt8;
  Shape shape;
  Shape chunk_shape;  // the chunk grid (v3 sharded: the shard shape)
  Bytes fill_value;   // one element, little-endian
  ChunkKeyEncoding key_encoding;
  CodecChain codecs;
  std::string compressor;  // summary: "zstd:1", "blosc:lz4:5", "none"
};

// `prefix` + the chunk's key ("0.1", "0/1", "c/0/1", "0", "c").
std::string ChunkKey(std::string_view prefix, const ChunkKeyEncoding& encoding,
                     const Shape& chunk_index);

// Shared checks once shape, chunk shape and dtype are known: ranks equal and
// at most kMaxRank, no negative dims, chunk dims >= 1, the array addressable
// in 64 bits and one chunk at most kMaxChunkBytes (kDataLoss /
// kUnimplemented), then ValidateChain on the codecs.
Status ValidateMetadata(const ZarrMetadata& md);

// The element layout of md.dtype with md.fill_value.
ElementFormat ElementFormatOf(const ZarrMetadata& md);

namespace internal {
// A JSON array of non-negative integers (at most 2^62 each) named `what`.
Result<Shape> ParseShape(const Json& j, std::string_view what);
// The whole text as one JSON value, or kDataLoss naming `what`.
Result<Json> ParseJsonText(ByteView text, std::string_view what);
// An integer member of `obj` (default when absent).
Result<int64_t> IntMember(const Json& obj, std::string_view key, int64_t default_value);
}  // namespace internal

}  // namespace ockpt::zarr

#endif  // OCKPT_FORMATS_ZARR_METADATA_H_
