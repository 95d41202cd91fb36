// The codec pipeline between a chunk's stored bytes and its elements, in a
// form shared by zarr v2 and v3:
//
//   decoded chunk (C order)  --array->array (transpose)-->
//   --array->bytes (`bytes` with an endianness, or `sharding_indexed`)-->
//   --bytes->bytes (zstd, zlib, gzip, blosc, crc32c), in list order--> stored
//
// A zarr v2 array is the chain [transpose F if order "F"] + [bytes in the
// typestr's byte order] + [compressor]. Decoding runs the chain backwards and
// always yields C order with little-endian elements. Every decoder is given
// the largest size its output may have, so hostile input cannot make it
// allocate more than the chunk it claims to be.

#ifndef OCKPT_FORMATS_ZARR_CODEC_H_
#define OCKPT_FORMATS_ZARR_CODEC_H_

#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "lib/base/bytes.h"
#include "lib/checkpoint/tree.h"

namespace ockpt::zarr {

struct BytesCodec {
  enum class Kind { kZstd, kZlib, kGzip, kBlosc, kCrc32c };
  Kind kind = Kind::kZstd;
  int level = 0;            // zstd / zlib / gzip level, blosc clevel (summary only)
  std::string blosc_cname;  // blosc inner compressor (summary only)

  bool is_compressor() const { return kind != Kind::kCrc32c; }
  // "zstd:3", "zlib:1", "gzip:6", "blosc:lz4:5", "crc32c".
  std::string Describe() const;
};

struct ShardingCodec;

struct CodecChain {
  // Composite of the array->array codecs: dimension i of the encoded array is
  // dimension permutation[i] of the decoded one. Empty = identity.
  std::vector<int> permutation;
  // `bytes` codec endianness (ignored for 1-byte elements and under sharding).
  bool big_endian = false;
  // Set when the array->bytes codec is sharding_indexed instead of bytes.
  std::shared_ptr<const ShardingCodec> sharding;
  // bytes->bytes codecs in encode order.
  std::vector<BytesCodec> bytes_codecs;

  // The innermost compressor ("zstd:3"; sharded chains describe the
  // sub-chunk codecs first) or "none".
  std::string DescribeCompressor() const;
};

struct ShardingCodec {
  Shape inner_chunk_shape;  // divides the (transposed) shard shape
  CodecChain codecs;        // for each inner chunk
  CodecChain index_codecs;  // for the uint64 [grid..., 2] index; fixed size
  bool index_at_end = true;
};

// How one element is laid out.
struct ElementFormat {
  size_t size = 1;
  size_t swap_unit = 1;  // bytes reversed for big-endian input (complex: size / 2)
  Bytes fill;            // one element, little-endian
  // int4 / uint4 / int2 / uint2: decoded bytes are normalized as TensorStore
  // holds them (lib/dtype/narrow_int.h).
  std::optional<DType> narrow_int;
};

// Applies the permutation to a decoded shape: the shape the array->bytes
// codec sees.
Shape EncodedShape(const CodecChain& chain, const Shape& decoded_shape);

// Checks a chain against the chunk shape it decodes: permutation ranks,
// inner chunk shapes dividing the shard, fixed-size index codecs, nesting
// depth. kDataLoss / kUnimplemented.
Status ValidateChain(const CodecChain& chain, const Shape& chunk_shape, size_t element_size);

// Decodes the stored bytes of one chunk of `shape` to C-order little-endian
// elements (missing inner chunks of a shard become element.fill).
// REQUIRES: ValidateChain(chain, shape, element.size) is OK.
Result<Bytes> DecodeChunk(const CodecChain& chain, const ElementFormat& element, const Shape& shape,
                          Bytes encoded);

// Where the one inner chunk of a shard lies: reads the shard index
// (sh.index_at_end or not) of a shard of shard_size bytes through `read`
// and returns (offset, nbytes) within the shard, or nullopt when the inner
// chunk is missing. kDataLoss for a damaged index or a range outside the
// shard. REQUIRES: the inner chunk shape of sh equals `shard_shape`.
Result<std::optional<std::pair<uint64_t, uint64_t>>> LocateSingleInnerChunk(
    const ShardingCodec& sh, const Shape& shard_shape, uint64_t shard_size,
    const std::function<Status(uint64_t offset, size_t n, char* dst)>& read);

}  // namespace ockpt::zarr

#endif  // OCKPT_FORMATS_ZARR_CODEC_H_
