// Feeds the input as a whole OCDBT database directory to OcdbtKvStore:
// Open, List, ListEntries, Read and ReadEntry of every key, ListVersions.
//
// Input: up to 8 files, each [u8 name length][name][u32 LE size][bytes]; the
// first is the root `manifest.ocdbt` whatever its name says. Names that are
// not safe relative paths are replaced by "d/<index>". Every OCDBT envelope
// found in a file gets its length and CRC-32C repaired, so mutations reach
// the node decoders. Files go into one scratch directory per process,
// emptied before each run.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "formats/ocdbt/ocdbt_kvstore.h"
#include "lib/kvstore/kvstore.h"
#include "tests/fuzz/fuzz_util.h"


extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  namespace fs = std::filesystem;
  const fs::path root = fuzz::ScratchDir();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) fs::remove_all(entry.path(), ec);

  ByteReader reader(ByteView(reinterpret_cast<const char*>(data), size));
  for (int i = 0; i < 8 && !reader.empty(); ++i) {
    std::string name;
    Bytes bytes;
    if (!fuzz::NextFileRecord(reader, &name, &bytes)) break;
    fuzz::RepairEnvelopes(&bytes);
    if (i == 0) {
      name = "manifest.ocdbt";
    } else if (!fuzz::ScratchNameOk(name, 64) || name == "manifest.ocdbt") {
      name = "d/" + std::to_string(i);
    }
    if (!fuzz::WriteScratchFile(root / name, bytes.data(), bytes.size())) return 0;
  }

  auto store = ocdbt::OcdbtKvStore::Open(root.string());
  if (!store.ok()) return 0;
  (void)(*store)->ListVersions();
  auto keys = (*store)->List("");
  if (keys.ok()) {
    std::vector<std::string> names;
    for (const auto& k : *keys) {
      (void)(*store)->Read(k.key);
      (void)(*store)->Contains(k.key);
      names.push_back(k.key);
    }
    (void)(*store)->ReadMany(names);
  }
  auto entries = (*store)->ListEntries("");
  if (entries.ok()) {
    for (const auto& e : *entries) (void)(*store)->ReadEntry(e);
  }
  return 0;
}
