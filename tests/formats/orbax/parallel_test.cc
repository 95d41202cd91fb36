// The parallel chunk pipeline changes nothing but speed: save with 1 and 4
// threads gives the same OCDBT entries, data-file bytes and per-leaf files;
// restore gives the same .npy files; errors are the same.

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "formats/npy/npy.h"
#include "formats/orbax/checkpoint_reader.h"
#include "formats/orbax/layout.h"
#include "formats/ocdbt/ocdbt_kvstore.h"
#include "formats/orbax/restore.h"
#include "formats/orbax/save.h"
#include "formats/zarr/zarr_array.h"
#include "formats/zarr/zarr_writer.h"
#include "lib/base/context.h"
#include "lib/base/file.h"
#include "lib/kvstore/kvstore.h"
#include "tests/support/temp_dir.h"

namespace ockpt::orbax {
namespace {

namespace fs = std::filesystem;

// Smooth values with some noise: compressible, but not trivially.
Bytes Float32Data(size_t n, uint32_t seed) {
  Bytes b(n * 4, '\0');
  uint32_t x = seed * 2654435761u + 7;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    float v = static_cast<float>(i % 1000) * 0.001f + static_cast<float>(x >> 24) * 1e-4f;
    std::memcpy(b.data() + 4 * i, &v, 4);
  }
  return b;
}

Bytes Int8Data(size_t n, uint32_t seed) {
  Bytes b(n, '\0');
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<char>((i / 7 + seed) % 251);
  return b;
}

// Writes a restore-layout .npy directory with a few leaves of many chunks.
// big_rows: rows of params.big (256 float32 columns); wide_rows: rows of
// params.wide (1000 float32 columns).
std::string MakeSource(const testing::TempDir& tmp, int64_t big_rows = 300,
                       int64_t wide_rows = 64) {
  std::string src = tmp / "src";
  struct Leaf {
    std::string name;
    DType dtype;
    Shape shape;
    Bytes data;
  };
  std::vector<Leaf> leaves = {
      {"big", DType::kFloat32, {big_rows, 256}, Float32Data(big_rows * 256, 1)},
      {"wide", DType::kFloat32, {wide_rows, 1000}, Float32Data(wide_rows * 1000, 5)},
      {"odd", DType::kInt8, {17, 5, 33}, Int8Data(17 * 5 * 33, 2)},
      {"vec", DType::kFloat32, {10001}, Float32Data(10001, 3)},
      {"one", DType::kFloat32, {3}, Float32Data(3, 4)},
  };
  Json records = Json::array();
  for (const Leaf& l : leaves) {
    std::string path = src + "/params/" + l.name + ".npy";
    REQUIRE(MakeDirectories(Dirname(path)).ok());
    REQUIRE(WriteFile(path,
                      npy::EncodeNpyHeader({std::string(Info(l.dtype).npy_descr), false, l.shape}) +
                          l.data)
                .ok());
    LeafRecord r;
    r.keypath = {{"params", KeyType::kDict}, {l.name, KeyType::kDict}};
    r.value_type = "np.ndarray";
    r.dtype = l.dtype;
    records.push_back(r.ToJson());
  }
  Json tree;
  tree["leaves"] = records;
  tree["custom_metadata"] = nullptr;
  REQUIRE(WriteFile(src + "/_tree.json", tree.dump()).ok());
  return src;
}

// Every regular file under dir (relative path -> bytes), skipping `skip`.
std::map<std::string, Bytes> Files(const std::string& dir, const std::set<std::string>& skip = {}) {
  std::map<std::string, Bytes> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string rel = fs::relative(e.path(), dir).string();
    if (skip.count(e.path().filename().string())) continue;
    auto data = ReadFile(e.path().string());
    REQUIRE(data.ok());
    out[rel] = *data;
  }
  return out;
}

struct Db {
  std::vector<ocdbt::EntryInfo> entries;
  std::map<std::string, Bytes> values;
  std::map<std::string, Bytes> data_files;  // files holding out-of-line values
};

Db ReadDb(const std::string& dir) {
  auto store = ocdbt::OcdbtKvStore::Open(dir);
  REQUIRE(store.ok());
  auto entries = (*store)->ListEntries("");
  REQUIRE(entries.ok());
  Db db;
  db.entries = *entries;
  for (const ocdbt::EntryInfo& e : db.entries) {
    auto v = (*store)->ReadEntry(e);
    REQUIRE(v.ok());
    db.values[e.key] = *v;
    if (!e.is_inline && !db.data_files.count(e.file)) {
      auto f = ReadFile(JoinPath(dir, e.file));
      REQUIRE(f.ok());
      db.data_files[e.file] = *f;
    }
  }
  return db;
}

TEST_CASE("save with 1 and 4 threads writes the same bytes") {
  testing::TempDir tmp;
  const std::string src = MakeSource(tmp);
  struct Layout {
    bool ocdbt, zarr3, compress;
    bool chunked = true;  // false: Orbax's default, one chunk per leaf (parallel across leaves)
  };
  int n = 0;
  for (Layout layout :
       {Layout{true, false, true}, Layout{true, true, true}, Layout{false, false, true},
        Layout{false, true, false}, Layout{true, false, false}, Layout{true, false, true, false},
        Layout{false, true, true, false}}) {
    INFO("ocdbt=" << layout.ocdbt << " zarr3=" << layout.zarr3 << " compress=" << layout.compress
                  << " chunked=" << layout.chunked);
    std::string dirs[2];
    int threads[2] = {1, 4};
    for (int k = 0; k < 2; ++k) {
      SaveOptions so;
      so.src = src;
      so.dest = dirs[k] = tmp / fmt::format("ckpt{}_{}", n, threads[k]);
      so.layout.ocdbt = layout.ocdbt;
      so.layout.zarr3 = layout.zarr3;
      so.layout.compress = layout.compress;
      if (layout.chunked)
        so.layout.chunk_bytes = 16384;  // dozens of chunks per leaf, most not inline
      Context ctx;
      ctx.threads = threads[k];
      Status s = Save(so, ctx);
      INFO(s.ToString());
      REQUIRE(s.ok());
    }
    ++n;
    if (layout.ocdbt) {
      Db a = ReadDb(JoinPath(dirs[0], "ocdbt.process_0"));
      Db b = ReadDb(JoinPath(dirs[1], "ocdbt.process_0"));
      REQUIRE(a.entries.size() == b.entries.size());
      CHECK(a.entries.size() > (layout.chunked ? 40u : 5u));
      for (size_t i = 0; i < a.entries.size(); ++i) {
        const ocdbt::EntryInfo &x = a.entries[i], &y = b.entries[i];
        INFO(x.key);
        CHECK(x.key == y.key);
        CHECK(x.size == y.size);
        CHECK(x.is_inline == y.is_inline);
        CHECK(x.offset == y.offset);
        CHECK(x.inline_value == y.inline_value);
      }
      CHECK(a.values == b.values);
      // Data files get random names, and the B+tree nodes after the values
      // name them; the value bytes before the nodes must be the same.
      REQUIRE(a.data_files.size() == b.data_files.size());
      REQUIRE(a.data_files.size() >= 1);
      std::map<std::string, std::pair<std::string, uint64_t>> value_end;  // a's file -> b's, end
      for (size_t i = 0; i < a.entries.size(); ++i) {
        const ocdbt::EntryInfo &x = a.entries[i], &y = b.entries[i];
        if (x.is_inline) continue;
        auto& [other, end] = value_end[x.file];
        other = y.file;
        end = std::max(end, x.offset + x.size);
      }
      for (const auto& [file, other_end] : value_end) {
        const auto& [other, end] = other_end;
        INFO(file << " " << other);
        REQUIRE(a.data_files[file].size() >= end);
        REQUIRE(b.data_files[other].size() >= end);
        CHECK(a.data_files[file].substr(0, end) == b.data_files[other].substr(0, end));
      }
    } else {
      // Everything but the timestamps of _CHECKPOINT_METADATA and the path
      // in commit_success.txt.
      const std::set<std::string> skip = {std::string(kCheckpointMetadataFile),
                                          std::string(kCommitSuccessFile)};
      auto a = Files(dirs[0], skip);
      auto b = Files(dirs[1], skip);
      CHECK(a.size() > (layout.chunked ? 40u : 5u));
      CHECK(a == b);
    }

    // Restore with 1 and 4 threads: the same .npy files, equal to the source.
    std::map<std::string, Bytes> restored[2];
    for (int k = 0; k < 2; ++k) {
      RestoreOptions ro;
      ro.path = dirs[1 - k];
      ro.out = tmp / fmt::format("restored{}_{}", n, threads[k]);
      Context ctx;
      ctx.threads = threads[k];
      Status s = Restore(ro, ctx);
      INFO(s.ToString());
      REQUIRE(s.ok());
      restored[k] = Files(ro.out);
    }
    CHECK(restored[0] == restored[1]);
    auto original = Files(src);
    for (const auto& [path, data] : original) {
      if (path.size() < 4 || path.substr(path.size() - 4) != ".npy") continue;
      INFO(path);
      REQUIRE(restored[0].count(path));
      CHECK(restored[0][path] == data);
    }
  }
}

// Records the order of WriteAt calls.
class RecordingWriter final : public ArrayWriter {
 public:
  explicit RecordingWriter(uint64_t size) : data_(size, '\0') {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    calls.emplace_back(offset, data.size());
    std::memcpy(data_.data() + offset, data.data(), data.size());
    return Status::Ok();
  }
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  Bytes data_;
};

TEST_CASE("ZarrArray::Read calls WriteAt in the same order with any thread count") {
  testing::TempDir tmp;
  const std::string src = MakeSource(tmp);
  SaveOptions so;
  so.src = src;
  so.dest = tmp / "ckpt";
  so.layout.ocdbt = false;
  so.layout.chunk_bytes = 2048;
  REQUIRE(Save(so, {}).ok());
  FileKvStore store(so.dest);
  for (std::string leaf : {"params.big", "params.wide", "params.odd", "params.vec"}) {
    INFO(leaf);
    auto array = zarr::ZarrArray::Open(&store, leaf + "/");
    REQUIRE(array.ok());
    const auto& s = array->summary();
    const uint64_t bytes = NumElements(s.shape) * SizeOf(s.dtype);
    RecordingWriter base(bytes);
    REQUIRE(array->Read(base).ok());
    for (int threads : {2, 3, 8, 0}) {
      for (uint64_t budget : {uint64_t{1}, uint64_t{64} << 10, uint64_t{128} << 20}) {
        RecordingWriter w(bytes);
        zarr::ReadOptions opts;
        opts.threads = threads;
        opts.max_bytes_in_flight = budget;
        REQUIRE(array->Read(w, opts).ok());
        CHECK(w.calls == base.calls);
        CHECK(w.data_ == base.data_);
      }
    }
  }
}

// Restores path into out with `threads` workers.
Status RestoreWith(const std::string& path, const std::string& out, int threads) {
  RestoreOptions ro;
  ro.path = path;
  ro.out = out;
  Context ctx;
  ctx.threads = threads;
  return Restore(ro, ctx);
}

// Restores the damaged checkpoint `path` with 1 and with 4 threads into
// <tmp>/<tag>N: both fail with kDataLoss, leave nothing under OUT and say
// the same. Returns the message.
std::string RestoreFailsAlike(const testing::TempDir& tmp, const std::string& path,
                              const std::string& tag) {
  std::string messages[2];
  const int threads[2] = {1, 4};
  for (int k = 0; k < 2; ++k) {
    const std::string out = tmp / fmt::format("{}{}", tag, k);
    Status s = RestoreWith(path, out, threads[k]);
    CHECK(s.code() == StatusCode::kDataLoss);
    messages[k] = s.message();
    CHECK_FALSE(PathExists(out));
  }
  CHECK(messages[0] == messages[1]);
  return messages[0];
}

TEST_CASE("a missing chunk fails restore the same way with 1 and 4 threads") {
  testing::TempDir tmp;
  const std::string src = MakeSource(tmp);
  SaveOptions so;
  so.src = src;
  so.dest = tmp / "ckpt";
  so.layout.ocdbt = false;
  so.layout.chunk_bytes = 4096;
  REQUIRE(Save(so, {}).ok());
  // Two chunks of 'big' (30x32, grid 10x8) gone: the earlier one in C order
  // is reported.
  REQUIRE(fs::remove(so.dest + "/params.big/3.1"));
  REQUIRE(fs::remove(so.dest + "/params.big/1.2"));
  const std::string message = RestoreFailsAlike(tmp, so.dest, "out");
  INFO(message);
  CHECK(message.find("params.big/1.2'") != std::string::npos);
}

TEST_CASE(
    "restore writes one-chunk leaves on several workers: same files; first damaged leaf reported") {
  testing::TempDir tmp;
  // params.big (2 MiB) and params.wide (2 MB) are one-chunk leaves of more
  // than a MiB: written by a worker each. The small ones go through the
  // leaf stream (batched reads).
  const std::string src = MakeSource(tmp, 2048, 512);
  SaveOptions so;
  so.src = src;
  so.dest = tmp / "ckpt";  // one chunk per leaf (Orbax's default)
  REQUIRE(Save(so, {}).ok());
  std::map<std::string, Bytes> outputs[2];
  int threads[2] = {1, 4};
  for (int k = 0; k < 2; ++k) {
    const std::string out = tmp / fmt::format("out{}", k);
    REQUIRE(RestoreWith(so.dest, out, threads[k]).ok());
    outputs[k] = Files(out);
  }
  CHECK(outputs[0].size() == 6);  // five leaves and _tree.json
  CHECK(outputs[0] == outputs[1]);
  // The source's arrays come back.
  for (const char* name : {"big", "wide", "odd", "vec"}) {
    CHECK(outputs[1][fmt::format("params/{}.npy", name)] ==
          *ReadFile(fmt::format("{}/params/{}.npy", src, name)));
  }

  // Two leaves damaged: the earlier one in tree order is reported, with 1
  // and with 4 threads, and nothing is left under OUT.
  so.dest = tmp / "ckpt2";
  so.layout.ocdbt = false;
  REQUIRE(Save(so, {}).ok());
  // params.wide (a worker's) and params.odd (the stream's; earlier in tree
  // order) damaged.
  REQUIRE(WriteFile(so.dest + "/params.wide/0.0", "garbage").ok());
  REQUIRE(WriteFile(so.dest + "/params.odd/0.0.0", "garbage").ok());
  const std::string message = RestoreFailsAlike(tmp, so.dest, "bad");
  INFO(message);
  CHECK(message.find("params.odd") != std::string::npos);
}

TEST_CASE("a failing sink stops a parallel save") {
  testing::TempDir tmp;
  const std::string src = MakeSource(tmp);
  auto source = OpenSource(src);
  REQUIRE(source.ok());
  zarr::WriteSpec spec;
  spec.dtype = DType::kFloat32;
  spec.shape = {300, 256};
  spec.chunk_shape = {4, 256};
  spec.zstd_level = 1;
  auto array = (*source)->OpenArray(0);
  REQUIRE(array.ok());
  for (int threads : {1, 4}) {
    std::vector<std::string> keys;
    zarr::WriteOptions wo;
    wo.threads = threads;
    Status s = zarr::WriteArray(
        spec, "p/", **array,
        [&](const std::string& key, ByteView) -> Status {
          if (keys.size() == 10) return IoError("disk full");
          keys.push_back(key);
          return Status::Ok();
        },
        wo);
    CHECK(s.code() == StatusCode::kIoError);
    CHECK(s.message() == "writing zarr chunk 'p/10.0': disk full");
    REQUIRE(keys.size() == 10);
    CHECK(keys[9] == "p/9.0");
  }
}

TEST_CASE("LeafStream reads leaves ahead in parallel; skipped leaves and errors") {
  testing::TempDir tmp;
  const std::string src = MakeSource(tmp);
  SaveOptions so;
  so.src = src;
  so.dest = tmp / "ckpt";
  so.layout.ocdbt = false;  // one chunk per leaf (Orbax's default)
  REQUIRE(Save(so, {}).ok());
  auto item = PyTreeItem::Open(so.dest);
  REQUIRE(item.ok());
  const auto& leaves = (*item)->leaves();
  auto expected = [&](size_t i) {
    MemoryArrayWriter w(NumElements(*leaves[i].shape) * SizeOf(*leaves[i].dtype));
    REQUIRE((*item)->ReadLeaf(i, w).ok());
    return w.data();
  };
  std::vector<size_t> all;
  for (size_t i = 0; i < leaves.size(); ++i) all.push_back(i);
  for (int threads : {1, 2, 4}) {
    INFO("threads " << threads);
    auto stream = (*item)->StreamLeaves(all, threads);
    for (size_t i : {size_t{1}, size_t{3}, size_t{4}}) {  // 0 and 2 skipped
      MemoryArrayWriter w(NumElements(*leaves[i].shape) * SizeOf(*leaves[i].dtype));
      Status s = stream->ReadLeaf(i, w);
      INFO(s.ToString());
      REQUIRE(s.ok());
      CHECK(w.data() == expected(i));
    }
    MemoryArrayWriter w(1);
    CHECK(stream->ReadLeaf(0, w).code() == StatusCode::kInternal);  // out of order
  }
  // A damaged leaf fails with its own name, also when later leaves are read
  // ahead; earlier leaves are fine.
  const std::string odd = so.dest + "/params.odd/0.0.0";
  REQUIRE(WriteFile(odd, "garbage").ok());
  size_t odd_index = 0;
  while (leaves[odd_index].name() != "params.odd") ++odd_index;
  std::string messages[2];
  int k = 0;
  for (int threads : {1, 4}) {
    auto stream = (*item)->StreamLeaves(all, threads);
    for (size_t i = 0; i < odd_index; ++i) {
      MemoryArrayWriter w(NumElements(*leaves[i].shape) * SizeOf(*leaves[i].dtype));
      REQUIRE(stream->ReadLeaf(i, w).ok());
      CHECK(w.data() == expected(i));
    }
    MemoryArrayWriter w(NumElements(*leaves[odd_index].shape));
    Status s = stream->ReadLeaf(odd_index, w);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message().find("leaf 'params.odd'") != std::string::npos);
    messages[k++] = s.message();
    CHECK(stream->ReadLeaf(odd_index + 1, w).message() == s.message());  // sticky
  }
  CHECK(messages[0] == messages[1]);
}

// A concurrent writer that records which threads wrote.
class ThreadRecordingWriter final : public ArrayWriter {
 public:
  explicit ThreadRecordingWriter(uint64_t n) : data_(n, '\0') {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    std::lock_guard lock(mu_);
    if (offset > data_.size() || data.size() > data_.size() - offset)
      return InternalError("outside");
    data_.replace(offset, data.size(), data);
    threads_.insert(std::this_thread::get_id());
    return Status::Ok();
  }
  bool concurrent() const override { return true; }
  const Bytes& data() const { return data_; }
  size_t thread_count() const { return threads_.size(); }
  bool wrote_from_another_thread() const {
    for (const std::thread::id& t : threads_) {
      if (t != std::this_thread::get_id()) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  Bytes data_;
  std::set<std::thread::id> threads_;
};

TEST_CASE("LeafStream lets workers write chunks into a concurrent writer") {
  testing::TempDir tmp;
  // params.big: 16 MiB in 4 KiB chunks, 16 read batches of 1 MiB (256 chunks),
  // and more than the 2 * 4 batches in flight before it is asked for.
  const std::string src = MakeSource(tmp, 16384);
  SaveOptions so;
  so.src = src;
  so.dest = tmp / "ckpt";
  so.layout.chunk_bytes = 4096;  // many chunks per leaf
  REQUIRE(Save(so, {}).ok());
  auto item = PyTreeItem::Open(so.dest);
  REQUIRE(item.ok());
  const auto& leaves = (*item)->leaves();
  std::vector<size_t> all;
  for (size_t i = 0; i < leaves.size(); ++i) all.push_back(i);
  for (int threads : {1, 4}) {
    INFO("threads " << threads);
    auto stream = (*item)->StreamLeaves(all, threads);
    for (size_t i : all) {
      const uint64_t n = NumElements(*leaves[i].shape) * SizeOf(*leaves[i].dtype);
      MemoryArrayWriter want(n);
      REQUIRE((*item)->ReadLeaf(i, want).ok());
      ThreadRecordingWriter w(n);
      REQUIRE(stream->ReadLeaf(i, w).ok());
      CHECK(w.data() == want.data());
      if (threads == 1) {
        CHECK_FALSE(w.wrote_from_another_thread());  // everything on the calling thread
      } else if (leaves[i].name() == "params.big") {
        // Sixteen batches of chunks, at most 8 batches (of this and the
        // other leaves) decoded before this leaf is asked for: the rest
        // are decoded while its writer is registered, and written by the
        // workers that decoded them.
        CHECK(w.wrote_from_another_thread());
      }
    }
  }
}

TEST_CASE(
    "OpenLeafSource decodes ahead on workers: same bytes in any read order; errors when reached") {
  testing::TempDir tmp;
  const std::string src = MakeSource(tmp);
  SaveOptions so;
  so.src = src;
  so.dest = tmp / "ckpt";
  so.layout.ocdbt = false;
  so.layout.chunk_bytes = 4096;  // many chunks per leaf, tiles for some
  REQUIRE(Save(so, {}).ok());
  auto item = PyTreeItem::Open(so.dest);
  REQUIRE(item.ok());
  const auto& leaves = (*item)->leaves();
  for (size_t i = 0; i < leaves.size(); ++i) {
    INFO(leaves[i].name());
    const uint64_t n = NumElements(*leaves[i].shape) * SizeOf(*leaves[i].dtype);
    MemoryArrayWriter want(n);
    REQUIRE((*item)->ReadLeaf(i, want).ok());
    const size_t esize = SizeOf(*leaves[i].dtype);
    for (int threads : {1, 4}) {
      INFO("threads " << threads);
      auto source = (*item)->OpenLeafSource(i, threads);
      REQUIRE(source.ok());
      // Forward in odd-sized pieces, then backwards.
      Bytes got(n, '\0');
      const uint64_t piece = 7 * 1024 / esize * esize + esize;
      for (uint64_t off = 0; off < n; off += piece) {
        const size_t len = static_cast<size_t>(std::min<uint64_t>(piece, n - off));
        REQUIRE((*source)->ReadAt(off, len, got.data() + off).ok());
      }
      CHECK(got == want.data());
      Bytes back(n, '\0');
      for (uint64_t end = n; end > 0;) {
        const uint64_t off = end > piece ? end - piece : 0;
        REQUIRE((*source)->ReadAt(off, static_cast<size_t>(end - off), back.data() + off).ok());
        end = off;
      }
      CHECK(back == want.data());
    }
  }
  // A damaged chunk decoded ahead fails only the read that reaches it.
  size_t big = 0;
  while (leaves[big].name() != "params.big") ++big;
  // The chunk holding the last element.
  const Shape& shape = *leaves[big].shape;
  const Shape& chunk = *leaves[big].chunk_shape;
  const std::string last_chunk =
      fmt::format("{}.{}", (shape[0] - 1) / chunk[0], (shape[1] - 1) / chunk[1]);
  REQUIRE(PathExists(so.dest + "/params.big/" + last_chunk));
  REQUIRE(WriteFile(so.dest + "/params.big/" + last_chunk, "garbage").ok());
  auto source = (*item)->OpenLeafSource(big, 4);
  REQUIRE(source.ok());
  const uint64_t n = NumElements(*leaves[big].shape) * SizeOf(*leaves[big].dtype);
  Bytes buf(4096, '\0');
  REQUIRE((*source)->ReadAt(0, buf.size(), buf.data()).ok());  // its neighbours decode ahead
  Status s = (*source)->ReadAt(n - 4, 4, buf.data());
  CHECK(s.code() == StatusCode::kDataLoss);
}

TEST_CASE("WriteArrays: metadata and chunks of every array in order; errors name the leaf") {
  testing::TempDir tmp;
  const std::string src = MakeSource(tmp);
  auto source = OpenSource(src);
  REQUIRE(source.ok());
  const auto& leaves = (*source)->leaves();
  std::vector<zarr::ArrayToWrite> arrays;
  for (size_t i = 0; i < leaves.size(); ++i) {
    zarr::WriteSpec spec;
    spec.dtype = *leaves[i].dtype;
    spec.shape = *leaves[i].shape;
    spec.chunk_shape = spec.shape;
    if (i == 0) spec.chunk_shape[0] = 7;  // several chunks, a partial edge one
    spec.zstd_level = 1;
    arrays.push_back({spec, leaves[i].name() + "/", leaves[i].name(),
                      [&, i] { return (*source)->OpenArray(i); }});
  }
  std::vector<std::pair<std::string, Bytes>> serial;
  for (const auto& a : arrays) {
    serial.emplace_back(zarr::MetadataKey(a.spec, a.prefix), zarr::EncodeMetadata(a.spec));
    auto s = a.open();
    REQUIRE(s.ok());
    REQUIRE(zarr::WriteArray(a.spec, a.prefix, **s, [&](const std::string& k, ByteView v) {
              serial.emplace_back(k, Bytes(v));
              return Status::Ok();
            }).ok());
  }
  for (int threads : {1, 2, 4}) {
    for (uint64_t budget : {uint64_t{1}, uint64_t{20000}, uint64_t{128} << 20}) {
      std::vector<std::pair<std::string, Bytes>> got;
      zarr::WriteOptions wo;
      wo.threads = threads;
      wo.max_bytes_in_flight = budget;
      Status s = zarr::WriteArrays(
          arrays,
          [&](const std::string& k, ByteView v) {
            got.emplace_back(k, Bytes(v));
            return Status::Ok();
          },
          wo);
      REQUIRE(s.ok());
      CHECK(got == serial);
    }
    auto bad = arrays;
    bad[2].open = []() -> Result<std::unique_ptr<ArraySource>> { return IoError("cannot open"); };
    size_t n = 0;
    zarr::WriteOptions wo;
    wo.threads = threads;
    Status s = zarr::WriteArrays(
        bad,
        [&](const std::string&, ByteView) {
          ++n;
          return Status::Ok();
        },
        wo);
    CHECK(s.code() == StatusCode::kIoError);
    CHECK(s.message() == fmt::format("writing leaf '{}': cannot open", bad[2].name));
    CHECK(n < serial.size());
  }
}

}  // namespace
}  // namespace ockpt::orbax
