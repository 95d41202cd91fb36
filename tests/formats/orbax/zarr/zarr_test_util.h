// Helpers for the zarr reader tests: an in-memory KvStore, hex, whole-array
// reads and a writer that records every WriteAt.

#ifndef OCKPT_TESTS_FORMATS_ORBAX_ZARR_ZARR_TEST_UTIL_H_
#define OCKPT_TESTS_FORMATS_ORBAX_ZARR_ZARR_TEST_UTIL_H_

#include <openssl/sha.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "formats/orbax/zarr/zarr_array.h"
#include "lib/checkpoint/array_io.h"
#include "lib/kvstore/kvstore.h"

namespace ockpt::zarr::testing {

class MemoryKvStore final : public KvStore {
 public:
  Result<Bytes> Read(std::string_view key) const override {
    auto it = values.find(std::string(key));
    if (it == values.end()) return NotFoundError("no key '{}'", key);
    return it->second;
  }
  Result<std::vector<KeyInfo>> List(std::string_view prefix) const override {
    std::vector<KeyInfo> out;
    for (const auto& [k, v] : values) {
      if (k.compare(0, prefix.size(), prefix) == 0) out.push_back({k, v.size()});
    }
    return out;
  }
  std::string Describe() const override { return "memory"; }

  std::map<std::string, Bytes> values;
};

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

#endif  // OCKPT_TESTS_FORMATS_ORBAX_ZARR_ZARR_TEST_UTIL_H_
