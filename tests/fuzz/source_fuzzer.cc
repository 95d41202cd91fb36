// Feeds the input to the same entry point every command opens its source
// with (formats::OpenSource), then reads every leaf: OpenArray and a read of
// its first MiB and last bytes. Built three times (tests/fuzz/CMakeLists.txt)
// by OCKPT_FUZZ_SOURCE:
//
//   0  fuzz_checkpoint_tree: a directory tree (an Orbax checkpoint, item or
//      manager root). Input: up to 64 files, each [u8 name length][name]
//      [u32 LE size][bytes], written under one scratch directory emptied
//      before each run; names that are not safe relative paths of
//      [A-Za-z0-9_.-/] are skipped. Every OCDBT envelope in a file gets its
//      length and CRC-32C repaired, so mutations reach the node decoders.
//   1  fuzz_npz: the input as an .npz file (libzip + the .npy reader).
//   2  fuzz_hdf5: the input as an .h5 file (ockpt's checks, then libhdf5).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "formats/registry.h"
#include "lib/kvstore/kvstore.h"
#include "tests/fuzz/fuzz_util.h"

#ifndef OCKPT_FUZZ_SOURCE
#error "define OCKPT_FUZZ_SOURCE (0 tree, 1 npz, 2 hdf5)"
#endif

namespace {

namespace fs = std::filesystem;

// Unpacks the tree input under root; false when nothing was written.
bool UnpackTree(const uint8_t* data, size_t size, const fs::path& root) {
  using namespace ockpt;
  ByteReader reader(ByteView(reinterpret_cast<const char*>(data), size));
  bool any = false;
  for (int i = 0; i < 64 && !reader.empty(); ++i) {
    std::string name;
    Bytes bytes;
    if (!fuzz::NextFileRecord(reader, &name, &bytes)) break;
    if (!fuzz::ScratchNameOk(name, 200)) continue;
    fuzz::RepairEnvelopes(&bytes);
    std::error_code ec;
    if (fs::is_directory(root / name, ec)) continue;
    any |= fuzz::WriteScratchFile(root / name, bytes.data(), bytes.size());
  }
  return any;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  const fs::path scratch = fuzz::ScratchDir();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(scratch, ec)) fs::remove_all(entry.path(), ec);

  std::string path;
#if OCKPT_FUZZ_SOURCE == 0
  path = (scratch / "ck").string();
  fs::create_directories(path, ec);
  if (!UnpackTree(data, size, path)) return 0;
#elif OCKPT_FUZZ_SOURCE == 1
  path = (scratch / "input.npz").string();
  if (!fuzz::WriteScratchFile(path, reinterpret_cast<const char*>(data), size)) return 0;
#else
  path = (scratch / "input.h5").string();
  if (!fuzz::WriteScratchFile(path, reinterpret_cast<const char*>(data), size)) return 0;
#endif

  auto source = formats::OpenSource(path);
  if (!source.ok()) return 0;
  (void)(*source)->custom_metadata();
  (void)(*source)->warnings();
  std::vector<char> buf;
  const auto& leaves = (*source)->leaves();
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (!leaves[i].HasArrayData()) continue;
    auto array = (*source)->OpenArray(i);
    if (!array.ok()) continue;
    uint64_t n = (*array)->size();
    size_t head = static_cast<size_t>(n < (uint64_t{1} << 20) ? n : (uint64_t{1} << 20));
    buf.resize(head);
    (void)(*array)->ReadAt(0, head, buf.data());
    if (n >= 8) (void)(*array)->ReadAt(n - 8, 8, buf.data());
  }
  return 0;
}
