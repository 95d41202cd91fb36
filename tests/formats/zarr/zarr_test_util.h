// Helpers for the zarr reader tests: hex, whole-array reads and a writer
// that records every WriteAt (and the in-memory KvStore of tests/support).

#ifndef OCKPT_TESTS_FORMATS_ZARR_ZARR_TEST_UTIL_H_
#define OCKPT_TESTS_FORMATS_ZARR_ZARR_TEST_UTIL_H_

#include <openssl/sha.h>

#include <string>
#include <utility>
#include <vector>

#include "formats/zarr/zarr_array.h"
#include "lib/checkpoint/array_io.h"
#include "lib/kvstore/kvstore.h"
#include "tests/support/memory_kvstore.h"

namespace ockpt::zarr::testing {

using ockpt::testing::MemoryKvStore;

inline Bytes Hex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

inline std::string Sha256Hex(ByteView data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return HexString(ByteView(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

// Records each WriteAt and checks that pieces stay inside the array and
// never overlap.
class RecordingWriter final : public ArrayWriter {
 public:
  explicit RecordingWriter(uint64_t total_bytes)
      : data_(total_bytes, '\0'), written_(total_bytes, false) {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    if (offset > data_.size() || data.size() > data_.size() - offset) {
      return InternalError("write of {} bytes at {} outside {}", data.size(), offset, data_.size());
    }
    for (uint64_t i = 0; i < data.size(); ++i) {
      if (written_[offset + i]) return InternalError("overlapping write at {}", offset + i);
      written_[offset + i] = true;
    }
    data_.replace(offset, data.size(), data);
    writes.emplace_back(offset, data.size());
    return Status::Ok();
  }
  bool Complete() const {
    for (bool w : written_) {
      if (!w) return false;
    }
    return true;
  }
  const Bytes& data() const { return data_; }

  std::vector<std::pair<uint64_t, uint64_t>> writes;

 private:
  Bytes data_;
  std::vector<bool> written_;
};

inline uint64_t ArrayBytes(const ZarrArray& a) {
  return static_cast<uint64_t>(NumElements(a.summary().shape)) * SizeOf(a.summary().dtype);
}

// The whole array through Read, checking full coverage.
inline Result<Bytes> ReadAll(const ZarrArray& a, const ReadOptions& options = {}) {
  RecordingWriter w(ArrayBytes(a));
  OCKPT_RETURN_IF_ERROR(a.Read(w, options));
  if (!w.Complete()) return InternalError("Read left part of the array unwritten");
  return w.data();
}

}  // namespace ockpt::zarr::testing

#endif  // OCKPT_TESTS_FORMATS_ZARR_ZARR_TEST_UTIL_H_
