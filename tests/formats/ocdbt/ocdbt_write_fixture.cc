// Writes OCDBT databases with known contents for ngocdbt_check.py, which
// reads them with neuroglancer's OCDBT reader and compares every key, size
// and SHA-256 against values it computes itself from the same formula.
//
// usage: ocdbt_write_fixture OUT_DIR
//        ocdbt_write_fixture --rekey SRC_DB DST_DB FROM_HEX TO_HEX [FILE_HEX]
//
// --rekey copies every key of the database SRC_DB into a new database
// DST_DB, with the first occurrence of the bytes FROM in each key replaced
// by TO (hex); with FILE, every value instead refers to offset 0 of the
// data file FILE (hex; relative to DST_DB, not written). For hostile-input
// cases whose keys or data-file names are not UTF-8
// (tests/data/hostile/make_hostile.py).
//
//   OUT_DIR/item/ocdbt.process_0  Orbax options, 64 KiB data files (so the
//                                 root's leaf tables name several files)
//   OUT_DIR/item                  WriteMergedRoot over it
//   OUT_DIR/deep                  max_decoded_node_bytes 200, inline <= 16,
//                                 keys with '.' for '/'
//   OUT_DIR/deep_slash            the same with the '/' keys
//   OUT_DIR/empty                 no keys
//
// Keys and values (keep in step with ngocdbt_check.py): for i in [0, n),
//   key   i%3==0: "params/layer_<i%17, 2 digits>/kernel/<i>"
//         i%3==1: "opt/<i, 6 digits>"
//         i%3==2: "bin" 0xff <i & 0xff> "/<i>"   (not UTF-8)
//         (in deep, every '/' is '.')
//   size  kSizes[i % 9]
//   byte j of the value: (i*131 + j*7 + (j >> 8)) & 0xff

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "formats/ocdbt/ocdbt_kvstore.h"
#include "formats/ocdbt/ocdbt_writer.h"
#include "lib/base/file.h"

namespace {

using ockpt::Status;
using ockpt::ocdbt::OcdbtWriter;
using ockpt::ocdbt::WriterOptions;

constexpr size_t kSizes[] = {0, 1, 100, 1023, 1024, 1025, 4096, 20000, 7};
constexpr uint64_t kProcessTime = 1700000000000000001;
constexpr uint64_t kRootTime = 1700000000000000002;
constexpr uint64_t kDeepTime = 1700000000000000003;
constexpr uint64_t kEmptyTime = 1700000000000000004;
constexpr uint64_t kDeepSlashTime = 1700000000000000005;

std::string Key(size_t i) {
  switch (i % 3) {
    case 0:
      return fmt::format("params/layer_{:02d}/kernel/{}", i % 17, i);
    case 1:
      return fmt::format("opt/{:06d}", i);
    default: {
      std::string k = "bin";
      k.push_back(static_cast<char>(0xff));
      k.push_back(static_cast<char>(i & 0xff));
      return k + fmt::format("/{}", i);
    }
  }
}

std::string Value(size_t i) {
  size_t size = kSizes[i % std::size(kSizes)];
  std::string v(size, '\0');
  for (size_t j = 0; j < size; ++j) v[j] = static_cast<char>((i * 131 + j * 7 + (j >> 8)) & 0xff);
  return v;
}

Status Write(const std::string& dir, size_t n, const WriterOptions& options, uint64_t time,
             char separator = '/') {
  auto writer = OcdbtWriter::Create(dir, options);
  if (!writer.ok()) return writer.status();
  for (size_t i = 0; i < n; ++i) {
    std::string key = Key(i);
    std::replace(key.begin(), key.end(), '/', separator);
    Status s = (*writer)->Put(std::move(key), Value(i));
    if (!s.ok()) return s;
  }
  return (*writer)->Commit(time);
}

}  // namespace

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

ockpt::Status Rekey(const std::string& src, const std::string& dst, const std::string& from,
                    const std::string& to, const std::string& file) {
  OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ockpt::ocdbt::OcdbtKvStore> in,
                         ockpt::ocdbt::OcdbtKvStore::Open(src));
  OCKPT_ASSIGN_OR_RETURN(std::vector<ockpt::KeyInfo> keys, in->List(""));
  OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ockpt::ocdbt::OcdbtWriter> out,
                         ockpt::ocdbt::OcdbtWriter::Create(dst, {}));
  for (const ockpt::KeyInfo& k : keys) {
    OCKPT_ASSIGN_OR_RETURN(ockpt::Bytes value, in->Read(k.key));
    std::string key = k.key;
    if (size_t at = key.find(from); !from.empty() && at != std::string::npos) key.replace(at, from.size(), to);
    if (!file.empty()) {
      OCKPT_RETURN_IF_ERROR(out->PutReference(std::move(key), "", file, 0, value.size()));
    } else {
      OCKPT_RETURN_IF_ERROR(out->Put(std::move(key), value));
    }
  }
  return out->Commit(kRootTime);
}

int main(int argc, char** argv) {
  if ((argc == 6 || argc == 7) && std::string(argv[1]) == "--rekey") {
    ockpt::Status s = Rekey(argv[2], argv[3], Unhex(argv[4]), Unhex(argv[5]), argc == 7 ? Unhex(argv[6]) : "");
    if (!s.ok()) {
      std::fprintf(stderr, "ocdbt_write_fixture: %s\n", s.ToString().c_str());
      return 1;
    }
    return 0;
  }
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  WriterOptions process;
  process.target_data_file_size = 64 << 10;
  WriterOptions deep;
  deep.max_decoded_node_bytes = 200;
  deep.max_inline_value_bytes = 16;
  Status s = Write(ockpt::JoinPath(out, "item/ocdbt.process_0"), 300, process, kProcessTime);
  if (s.ok())
    s = ockpt::ocdbt::WriteMergedRoot(ockpt::JoinPath(out, "item"), "ocdbt.process_0", kRootTime);
  if (s.ok()) s = Write(ockpt::JoinPath(out, "deep"), 400, deep, kDeepTime, '.');
  if (s.ok()) s = Write(ockpt::JoinPath(out, "deep_slash"), 400, deep, kDeepSlashTime);
  if (s.ok()) s = Write(ockpt::JoinPath(out, "empty"), 0, {}, kEmptyTime);
  if (!s.ok()) {
    std::fprintf(stderr, "ocdbt_write_fixture: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
