// Little-endian, big-endian and varint encoding; ByteReader.

#include "lib/base/bytes.h"

#include <algorithm>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace ockpt {

Bytes ZeroedBytes(size_t size, size_t capacity) {
  Bytes b;
  b.reserve(std::max(size, capacity));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Large blocks are mmap()ed by malloc, untouched so far: advise the whole
  // page-aligned span. Smaller ones live in the heap, where advice would
  // split its mapping; they are reused and rarely fault.
  constexpr size_t kLarge = size_t{32} << 20;
  if (b.capacity() >= kLarge) {
    const uintptr_t page = 4096;
    uintptr_t start = (reinterpret_cast<uintptr_t>(b.data()) + page - 1) & ~(page - 1);
    uintptr_t end = (reinterpret_cast<uintptr_t>(b.data()) + b.capacity()) & ~(page - 1);
    if (end > start) ::madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
  }
#endif
  b.resize(size);
  return b;
}

namespace {

// This thread's reusable buffers, each at the size it was last used at.
std::vector<Bytes>& ThreadBuffers() {
  thread_local std::vector<Bytes> buffers;
  return buffers;
}

}  // namespace

Bytes ReusedBytes(size_t size) {
  std::vector<Bytes>& cache = ThreadBuffers();
  // Among buffers with room for size (and not twice as much: the caller may
  // keep what it gets), the one last used at the size closest to this one:
  // growing it fills bytes now, shrinking it fills them when it grows back
  // (a worker's reads and decoded chunks each find their own kind).
  size_t best = cache.size();
  auto distance = [&](size_t i) {
    return size > cache[i].size() ? size - cache[i].size() : cache[i].size() - size;
  };
  for (size_t i = 0; i < cache.size(); ++i) {
    const size_t cap = cache[i].capacity();
    if (cap < size || cap / 2 > size) continue;
    if (best == cache.size() || distance(i) < distance(best)) best = i;
  }
  // A new one that may come back to the cache has room for values up to an
  // eighth larger (the sizes of compressed chunks vary); a larger one is
  // never cached and gets no slack.
  if (best == cache.size()) return ZeroedBytes(size, size <= kMaxReusedBytes ? size + size / 8 : 0);
  Bytes b = std::move(cache[best]);
  cache.erase(cache.begin() + static_cast<std::ptrdiff_t>(best));
  b.resize(size);  // fills only what it grows by
  return b;
}

void RecycleBytes(Bytes b) {
  if (b.capacity() > kMaxReusedBytes || b.capacity() < (size_t{64} << 10)) return;
  std::vector<Bytes>& cache = ThreadBuffers();
  if (cache.size() == kReusedBuffers) {
    // The oldest makes room.
    cache.erase(cache.begin());
  }
  cache.push_back(std::move(b));
}

void PutU32LE(Bytes* dst, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  dst->append(b, 4);
}

void PutU64LE(Bytes* dst, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  dst->append(b, 8);
}

void PutU32BE(Bytes* dst, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * (3 - i)));
  dst->append(b, 4);
}

void PutVarint(Bytes* dst, uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}

uint32_t LoadU32LE(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 |
         uint32_t{b[3]} << 24;
}

uint64_t LoadU64LE(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

uint32_t LoadU32BE(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return uint32_t{b[3]} | uint32_t{b[2]} << 8 | uint32_t{b[1]} << 16 |
         uint32_t{b[0]} << 24;
}

void StoreU64LE(void* p, uint64_t v) {
  auto* b = static_cast<uint8_t*>(p);
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
}

std::string HexString(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (unsigned char c : data) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

namespace {
Status Short(std::string_view field, size_t need, size_t have, size_t pos) {
  return DataLossError("truncated at byte {} reading {}: need {} bytes, {} left",
                       pos, field, need, have);
}
}  // namespace

Result<uint8_t> ByteReader::ReadU8(std::string_view field) {
  if (remaining() < 1) return Short(field, 1, remaining(), pos_);
  return static_cast<uint8_t>(data_[pos_++]);
}

Result<uint32_t> ByteReader::ReadU32LE(std::string_view field) {
  if (remaining() < 4) return Short(field, 4, remaining(), pos_);
  uint32_t v = LoadU32LE(data_.data() + pos_);
  pos_ += 4;
  return v;
}

Result<uint64_t> ByteReader::ReadU64LE(std::string_view field) {
  if (remaining() < 8) return Short(field, 8, remaining(), pos_);
  uint64_t v = LoadU64LE(data_.data() + pos_);
  pos_ += 8;
  return v;
}

Result<uint32_t> ByteReader::ReadU32BE(std::string_view field) {
  if (remaining() < 4) return Short(field, 4, remaining(), pos_);
  uint32_t v = LoadU32BE(data_.data() + pos_);
  pos_ += 4;
  return v;
}

Result<uint64_t> ByteReader::ReadVarint64(std::string_view field) {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (remaining() < 1) return Short(field, 1, 0, pos_);
    uint8_t b = static_cast<uint8_t>(data_[pos_++]);
    if (i == 9 && b > 1) {
      return DataLossError("varint overflow at byte {} reading {}", pos_ - 1, field);
    }
    v |= uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) return v;
  }
  return DataLossError("varint too long at byte {} reading {}", pos_, field);
}

Result<uint32_t> ByteReader::ReadVarint32(std::string_view field) {
  size_t start = pos_;
  OCKPT_ASSIGN_OR_RETURN(uint64_t v, ReadVarint64(field));
  if (v > 0xffffffffu || pos_ - start > 5) {
    return DataLossError("varint32 out of range at byte {} reading {}", start, field);
  }
  return static_cast<uint32_t>(v);
}

Result<uint64_t> ByteReader::ReadVarintMax(std::string_view field, uint64_t max) {
  size_t start = pos_;
  OCKPT_ASSIGN_OR_RETURN(uint64_t v, ReadVarint64(field));
  if (v > max) {
    return DataLossError("{} = {} at byte {} exceeds the limit {}", field, v, start, max);
  }
  return v;
}

Result<ByteView> ByteReader::ReadBytes(size_t n, std::string_view field) {
  if (remaining() < n) return Short(field, n, remaining(), pos_);
  ByteView v = data_.substr(pos_, n);
  pos_ += n;
  return v;
}

}  // namespace ockpt
