// Decoding a zarr chunk through its codec chain.

#include "formats/zarr/codec.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "formats/zarr/chunk_layout.h"
#include "lib/base/crc32c.h"
#include "lib/compression/compression.h"
#include "lib/dtype/narrow_int.h"

namespace ockpt::zarr {
namespace {

constexpr uint64_t kMissing = std::numeric_limits<uint64_t>::max();
// Nested sharding deeper than this is refused.
constexpr int kMaxShardingDepth = 4;
// Bound on any encoded size we compute (saturating).
constexpr uint64_t kMaxEncodedBytes = uint64_t{1} << 40;

uint64_t SatAdd(uint64_t a, uint64_t b) { return std::min(kMaxEncodedBytes, a + b); }
uint64_t SatMul(uint64_t a, uint64_t b) {
  if (a != 0 && b > kMaxEncodedBytes / a) return kMaxEncodedBytes;
  return std::min(kMaxEncodedBytes, a * b);
}

Shape InnerGrid(const ShardingCodec& sh, const Shape& shard_shape) {
  Shape grid(shard_shape.size());
  for (size_t d = 0; d < grid.size(); ++d) grid[d] = shard_shape[d] / sh.inner_chunk_shape[d];
  return grid;
}

Shape IndexShape(const Shape& grid) {
  Shape s = grid;
  s.push_back(2);
  return s;
}

// Encoded size of a chain made only of transpose, bytes and crc32c.
Result<uint64_t> FixedEncodedSize(const CodecChain& chain, uint64_t decoded_bytes) {
  if (chain.sharding) return UnimplementedError("sharding_indexed in index_codecs");
  uint64_t n = decoded_bytes;
  for (const BytesCodec& c : chain.bytes_codecs) {
    if (c.kind != BytesCodec::Kind::kCrc32c) {
      return UnimplementedError("index_codecs with {} (the index must have a fixed size)",
                                c.Describe());
    }
    n += 4;
  }
  return n;
}

// An upper bound on the encoded size of a chunk of `shape`, used to cap
// decompressors that sit above a sharding codec.
uint64_t MaxEncodedSize(const CodecChain& chain, size_t element_size, const Shape& shape) {
  Shape enc = EncodedShape(chain, shape);
  uint64_t n;
  if (chain.sharding) {
    Shape grid = InnerGrid(*chain.sharding, enc);
    uint64_t count = 1;
    for (int64_t g : grid) count = SatMul(count, static_cast<uint64_t>(g));
    uint64_t index = SatAdd(SatMul(count, 16), 64);
    n = SatAdd(index, SatMul(count, MaxEncodedSize(chain.sharding->codecs, element_size,
                                                   chain.sharding->inner_chunk_shape)));
  } else {
    n = element_size;
    for (int64_t d : enc) n = SatMul(n, static_cast<uint64_t>(d));
  }
  for (const BytesCodec& c : chain.bytes_codecs) {
    n = c.kind == BytesCodec::Kind::kCrc32c ? SatAdd(n, 4) : SatAdd(SatAdd(n, n / 2), 1024);
  }
  return n;
}

Result<Bytes> DecodeBytes(const BytesCodec& codec, Bytes input, uint64_t max_out) {
  const size_t max = static_cast<size_t>(std::min<uint64_t>(max_out, kMaxEncodedBytes));
  switch (codec.kind) {
    case BytesCodec::Kind::kZstd: {
      Result<Bytes> out = ZstdDecompress(input, max);
      RecycleBytes(std::move(input));  // for this thread's next read
      return out;
    }
    case BytesCodec::Kind::kZlib:
      return ZlibDecompress(input, max, /*gzip=*/false);
    case BytesCodec::Kind::kGzip:
      return ZlibDecompress(input, max, /*gzip=*/true);
    case BytesCodec::Kind::kBlosc:
      return BloscDecompress(input, max);
    case BytesCodec::Kind::kCrc32c: {
      if (input.size() < 4) {
        return DataLossError("{} bytes are too short for a CRC-32C trailer", input.size());
      }
      const size_t n = input.size() - 4;
      const uint32_t stored = LoadU32LE(input.data() + n);
      const uint32_t computed = Crc32c(ByteView(input).substr(0, n));
      if (stored != computed) {
        return DataLossError("CRC-32C mismatch: stored {:#010x}, computed {:#010x}", stored,
                             computed);
      }
      input.resize(n);
      return input;
    }
  }
  return InternalError("unknown bytes codec");
}

Result<Bytes> DecodeShard(const ShardingCodec& sh, const ElementFormat& element,
                          const Shape& shard_shape, ByteView shard) {
  const Shape grid = InnerGrid(sh, shard_shape);
  const Shape index_shape = IndexShape(grid);
  uint64_t count = 1;
  for (int64_t g : grid) count *= static_cast<uint64_t>(g);
  OCKPT_ASSIGN_OR_RETURN(uint64_t index_size, FixedEncodedSize(sh.index_codecs, count * 16));
  if (shard.size() < index_size) {
    return DataLossError("shard of {} bytes is shorter than its {}-byte index", shard.size(),
                         index_size);
  }
  ByteView index_bytes =
      sh.index_at_end ? shard.substr(shard.size() - index_size) : shard.substr(0, index_size);
  ElementFormat u64{8, 8, Bytes(8, '\0'), std::nullopt};
  auto index = DecodeChunk(sh.index_codecs, u64, index_shape, Bytes(index_bytes));
  if (!index.ok()) return std::move(index).WithContext("shard index");

  OCKPT_ASSIGN_OR_RETURN(uint64_t elements,
                         CheckedByteCount(shard_shape, 1, kMaxChunkBytes, "shard"));
  Bytes out = RepeatElement(element.fill, elements);
  const std::vector<uint64_t> grid_strides = CStrides(grid);
  const size_t rank = grid.size();
  Shape origin(rank);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t offset = LoadU64LE(index->data() + 16 * i);
    const uint64_t nbytes = LoadU64LE(index->data() + 16 * i + 8);
    if (offset == kMissing && nbytes == kMissing) continue;
    if (offset > shard.size() || nbytes > shard.size() - offset) {
      return DataLossError("inner chunk {} (offset {}, {} bytes) lies outside the {}-byte shard", i,
                           offset, nbytes, shard.size());
    }
    uint64_t rest = i;
    for (size_t d = 0; d < rank; ++d) {
      origin[d] = static_cast<int64_t>(rest / grid_strides[d]) * sh.inner_chunk_shape[d];
      rest %= grid_strides[d];
    }
    auto inner =
        DecodeChunk(sh.codecs, element, sh.inner_chunk_shape, Bytes(shard.substr(offset, nbytes)));
    if (!inner.ok()) return std::move(inner).WithContext(fmt::format("inner chunk {}", i));
    OCKPT_RETURN_IF_ERROR(ForEachRun(sh.inner_chunk_shape, shard_shape, origin,
                                     sh.inner_chunk_shape, element.size,
                                     [&](uint64_t s, uint64_t t, uint64_t n) {
                                       std::memcpy(out.data() + t, inner->data() + s, n);
                                       return Status::Ok();
                                     }));
  }
  return out;
}

Status ValidateChainImpl(const CodecChain& chain, const Shape& chunk_shape, size_t element_size,
                         int depth) {
  const size_t rank = chunk_shape.size();
  if (!chain.permutation.empty()) {
    if (chain.permutation.size() != rank) {
      return DataLossError("transpose order has {} entries for rank {}", chain.permutation.size(),
                           rank);
    }
    std::vector<bool> seen(rank, false);
    for (int p : chain.permutation) {
      if (p < 0 || static_cast<size_t>(p) >= rank || seen[static_cast<size_t>(p)]) {
        return DataLossError("transpose order is not a permutation of [0, {})", rank);
      }
      seen[static_cast<size_t>(p)] = true;
    }
  }
  if (!chain.sharding) return Status::Ok();
  if (depth >= kMaxShardingDepth) {
    return UnimplementedError("sharding nested more than {} deep", kMaxShardingDepth);
  }
  const ShardingCodec& sh = *chain.sharding;
  const Shape enc = EncodedShape(chain, chunk_shape);
  if (sh.inner_chunk_shape.size() != rank) {
    return DataLossError("sharding chunk_shape {} has the wrong rank for shard shape {}",
                         ShapeString(sh.inner_chunk_shape), ShapeString(enc));
  }
  for (size_t d = 0; d < rank; ++d) {
    if (sh.inner_chunk_shape[d] <= 0 || enc[d] % sh.inner_chunk_shape[d] != 0) {
      return DataLossError("sharding chunk_shape {} does not divide shard shape {}",
                           ShapeString(sh.inner_chunk_shape), ShapeString(enc));
    }
  }
  OCKPT_RETURN_IF_ERROR(
      ValidateChainImpl(sh.codecs, sh.inner_chunk_shape, element_size, depth + 1));
  Shape index_shape = IndexShape(InnerGrid(sh, enc));
  OCKPT_ASSIGN_OR_RETURN(uint64_t index_bytes,
                         CheckedByteCount(index_shape, 8, kMaxChunkBytes, "shard index"));
  OCKPT_ASSIGN_OR_RETURN(uint64_t fixed, FixedEncodedSize(sh.index_codecs, index_bytes));
  (void)fixed;
  return ValidateChainImpl(sh.index_codecs, index_shape, 8, depth + 1);
}

}  // namespace

std::string BytesCodec::Describe() const {
  switch (kind) {
    case Kind::kZstd:
      return fmt::format("zstd:{}", level);
    case Kind::kZlib:
      return fmt::format("zlib:{}", level);
    case Kind::kGzip:
      return fmt::format("gzip:{}", level);
    case Kind::kBlosc:
      return fmt::format("blosc:{}:{}", blosc_cname, level);
    case Kind::kCrc32c:
      return "crc32c";
  }
  return "unknown";
}

std::string CodecChain::DescribeCompressor() const {
  if (sharding) {
    std::string inner = sharding->codecs.DescribeCompressor();
    if (inner != "none") return inner;
  }
  for (const BytesCodec& c : bytes_codecs) {
    if (c.is_compressor()) return c.Describe();
  }
  return "none";
}

Shape EncodedShape(const CodecChain& chain, const Shape& decoded_shape) {
  if (chain.permutation.empty()) return decoded_shape;
  Shape enc(decoded_shape.size());
  for (size_t i = 0; i < enc.size(); ++i) {
    enc[i] = decoded_shape[static_cast<size_t>(chain.permutation[i])];
  }
  return enc;
}

Status ValidateChain(const CodecChain& chain, const Shape& chunk_shape, size_t element_size) {
  return ValidateChainImpl(chain, chunk_shape, element_size, 0);
}

Result<Bytes> DecodeChunk(const CodecChain& chain, const ElementFormat& element, const Shape& shape,
                          Bytes encoded) {
  OCKPT_ASSIGN_OR_RETURN(uint64_t nbytes,
                         CheckedByteCount(shape, element.size, kMaxChunkBytes, "chunk"));
  const Shape enc = EncodedShape(chain, shape);
  const uint64_t array_bytes_max =
      chain.sharding ? MaxEncodedSize(CodecChain{{}, false, chain.sharding, {}}, element.size, enc)
                     : nbytes;
  // bytes->bytes codecs, last first. Output of codec i is at most the
  // array->bytes output plus 4 bytes per crc32c codec before i.
  Bytes data = std::move(encoded);
  for (size_t i = chain.bytes_codecs.size(); i > 0; --i) {
    uint64_t max_out = array_bytes_max;
    for (size_t k = 0; k + 1 < i; ++k) {
      if (chain.bytes_codecs[k].kind == BytesCodec::Kind::kCrc32c) max_out += 4;
    }
    const BytesCodec& codec = chain.bytes_codecs[i - 1];
    auto decoded = DecodeBytes(codec, std::move(data), max_out);
    if (!decoded.ok()) return decoded.status();
    data = std::move(decoded).value();
  }
  Bytes array;
  if (chain.sharding) {
    OCKPT_ASSIGN_OR_RETURN(array, DecodeShard(*chain.sharding, element, enc, data));
  } else {
    if (data.size() != nbytes) {
      return DataLossError("chunk decodes to {} bytes, expected {} for shape {}", data.size(),
                           nbytes, ShapeString(enc));
    }
    array = std::move(data);
    if (chain.big_endian) SwapBytes(&array, element.swap_unit);
    if (element.narrow_int) NormalizeNarrowInts(*element.narrow_int, array.data(), array.size());
  }
  if (chain.permutation.empty()) return array;
  return UndoTranspose(array, shape, chain.permutation, element.size);
}

Result<std::optional<std::pair<uint64_t, uint64_t>>> LocateSingleInnerChunk(
    const ShardingCodec& sh, const Shape& shard_shape, uint64_t shard_size,
    const std::function<Status(uint64_t offset, size_t n, char* dst)>& read) {
  const Shape grid = InnerGrid(sh, shard_shape);
  for (int64_t g : grid) {
    if (g != 1) return InternalError("shard {} holds more than one inner chunk", ShapeString(shard_shape));
  }
  OCKPT_ASSIGN_OR_RETURN(uint64_t index_size, FixedEncodedSize(sh.index_codecs, 16));
  if (shard_size < index_size) {
    return DataLossError("shard of {} bytes is shorter than its {}-byte index", shard_size,
                         index_size);
  }
  Bytes index_bytes = ZeroedBytes(static_cast<size_t>(index_size));
  OCKPT_RETURN_IF_ERROR(
      read(sh.index_at_end ? shard_size - index_size : 0, index_bytes.size(), index_bytes.data()));
  ElementFormat u64{8, 8, Bytes(8, '\0'), std::nullopt};
  auto index = DecodeChunk(sh.index_codecs, u64, IndexShape(grid), std::move(index_bytes));
  if (!index.ok()) return std::move(index).status().WithContext("shard index");
  const uint64_t offset = LoadU64LE(index->data());
  const uint64_t nbytes = LoadU64LE(index->data() + 8);
  if (offset == kMissing && nbytes == kMissing) return std::nullopt;
  if (offset > shard_size || nbytes > shard_size - offset) {
    return DataLossError("inner chunk 0 (offset {}, {} bytes) lies outside the {}-byte shard",
                         offset, nbytes, shard_size);
  }
  return std::make_pair(offset, nbytes);
}

}  // namespace ockpt::zarr
