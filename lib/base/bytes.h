// Byte buffers and the little-endian / varint vocabulary used by the formats.
//
// Bytes is an owned std::string (contiguous, cheap to move); ByteView a
// std::string_view into one. Put* append to a Bytes; ByteReader parses a
// ByteView front to back and checks every length against the bytes left.

#ifndef OCKPT_LIB_BASE_BYTES_H_
#define OCKPT_LIB_BASE_BYTES_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "lib/base/result.h"

namespace ockpt {

using Bytes = std::string;
using ByteView = std::string_view;

inline void PutU8(Bytes* dst, uint8_t v) { dst->push_back(static_cast<char>(v)); }
void PutU32LE(Bytes* dst, uint32_t v);
void PutU64LE(Bytes* dst, uint64_t v);
void PutU32BE(Bytes* dst, uint32_t v);
void PutVarint(Bytes* dst, uint64_t v);
inline void PutBytes(Bytes* dst, ByteView v) { dst->append(v.data(), v.size()); }

uint32_t LoadU32LE(const void* p);
uint64_t LoadU64LE(const void* p);
uint32_t LoadU32BE(const void* p);
void StoreU64LE(void* p, uint64_t v);

// `size` zero bytes with room for at least `capacity` (chunk buffers). For
// large buffers (32 MiB and up: one-chunk arrays) the kernel is asked for
// transparent huge pages before the first touch, which turns hundreds of
// thousands of page faults into a few hundred (madvise mode, Linux).
Bytes ZeroedBytes(size_t size, size_t capacity = 0);

// A per-thread cache of a few large buffers, so that a worker reading and
// decoding chunk after chunk reuses the same memory instead of having a
// fresh block zero-filled and faulted in for every chunk (and, on several
// threads, contending for the process's memory map).
//
// ReusedBytes(size): a buffer of `size` bytes whose contents are
// unspecified (the caller overwrites every byte), from this thread's cache
// when a cached buffer is large enough (and less than twice as large),
// else ZeroedBytes(size).
// RecycleBytes(b): offers b's memory to this thread's cache (at most
// kReusedBuffers buffers of up to kMaxReusedBytes each are kept; the
// oldest goes first).
inline constexpr size_t kReusedBuffers = 3;
inline constexpr size_t kMaxReusedBytes = size_t{64} << 20;
Bytes ReusedBytes(size_t size);
void RecycleBytes(Bytes b);

// Takes the bytes of a range as they arrive, in order: `offset` is where
// `data` starts within the range. An error stops the transfer.
using ByteRangeSink = std::function<Status(uint64_t offset, ByteView data)>;

// Lowercase hex of `data`.
std::string HexString(ByteView data);

// Parses a ByteView. Each Read* fails with kDataLoss (naming the field) when
// the input is too short or malformed; on failure the position is undefined.
class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }
  ByteView rest() const { return data_.substr(pos_); }

  Result<uint8_t> ReadU8(std::string_view field);
  Result<uint32_t> ReadU32LE(std::string_view field);
  Result<uint64_t> ReadU64LE(std::string_view field);
  Result<uint32_t> ReadU32BE(std::string_view field);
  // Unsigned LEB128; at most 5 (varint32) or 10 (varint64) bytes.
  Result<uint64_t> ReadVarint64(std::string_view field);
  Result<uint32_t> ReadVarint32(std::string_view field);
  // A varint32 that must be <= max.
  Result<uint64_t> ReadVarintMax(std::string_view field, uint64_t max);
  Result<ByteView> ReadBytes(size_t n, std::string_view field);

 private:
  ByteView data_;
  size_t pos_ = 0;
};

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_BYTES_H_
