// Helpers shared by the libFuzzer harnesses: OCDBT envelope repair (so that
// mutated blobs get past the CRC-32C and reach the decoders) and a per-process
// scratch directory.

#ifndef OCKPT_TESTS_FUZZ_FUZZ_UTIL_H_
#define OCKPT_TESTS_FUZZ_FUZZ_UTIL_H_

#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "formats/ocdbt/format/envelope.h"
#include "lib/base/bytes.h"
#include "lib/base/crc32c.h"
#include "lib/kvstore/kvstore.h"

namespace ockpt::fuzz {

// Rewrites the length field and the CRC-32C of an envelope of `n` bytes at
// `p` (magic and all) so that DecodeEnvelope accepts its framing.
inline void RepairEnvelope(char* p, size_t n) {
  if (n < ocdbt::kMinEnvelopeBytes) return;
  StoreU64LE(p + 4, n);
  uint32_t crc = Crc32c(ByteView(p, n - 4));
  for (int i = 0; i < 4; ++i) p[n - 4 + i] = static_cast<char>(crc >> (8 * i));
}

// Scans `data` for OCDBT envelopes (any of the three magics followed by a
// plausible length) and repairs the CRC-32C of each.
inline void RepairEnvelopes(Bytes* data) {
  size_t p = 0;
  while (data->size() >= ocdbt::kMinEnvelopeBytes && p <= data->size() - ocdbt::kMinEnvelopeBytes) {
    uint32_t magic = LoadU32BE(data->data() + p);
    if (magic == ocdbt::kManifestMagic || magic == ocdbt::kVersionTreeNodeMagic ||
        magic == ocdbt::kBtreeNodeMagic) {
      uint64_t len = LoadU64LE(data->data() + p + 4);
      if (len >= ocdbt::kMinEnvelopeBytes && len <= data->size() - p) {
        RepairEnvelope(data->data() + p, len);
        p += len;
        continue;
      }
    }
    ++p;
  }
}

// A directory made once per process (removed at exit is not attempted:
// libFuzzer exits with _Exit on crashes).
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/ockpt-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    return pattern;
  }();
  return dir;
}

// Writes size bytes to path (parents created); false on failure.
inline bool WriteScratchFile(const std::filesystem::path& path, const char* data, size_t size) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data, static_cast<std::streamsize>(size));
  return static_cast<bool>(f);
}

// Whether a name from a fuzz input may become a file under the scratch
// directory: a safe relative path of [A-Za-z0-9_.-/], at most max_len bytes.
inline bool ScratchNameOk(const std::string& name, size_t max_len) {
  if (name.empty() || name.size() > max_len || !IsSafeRelativeKey(name)) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-' || c == '/';
    if (!ok) return false;
  }
  return true;
}

// One record of a multi-file fuzz input: [u8 name length][name][u32 LE
// size][bytes] (a short last record keeps the bytes that are there). False
// when no whole header is left.
inline bool NextFileRecord(ByteReader& reader, std::string* name, Bytes* bytes) {
  auto name_len = reader.ReadU8("name length");
  if (!name_len.ok() || reader.remaining() < *name_len) return false;
  name->assign(reader.rest().substr(0, *name_len));
  (void)reader.ReadBytes(*name_len, "name");
  auto len = reader.ReadU32LE("size");
  if (!len.ok()) return false;
  bytes->assign(reader.rest().substr(0, *len));
  (void)reader.ReadBytes(bytes->size(), "bytes");
  return true;
}

}  // namespace ockpt::fuzz

#endif  // OCKPT_TESTS_FUZZ_FUZZ_UTIL_H_
