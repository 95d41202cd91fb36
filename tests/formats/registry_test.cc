#include "formats/registry.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "formats/hdf5/hdf5.h"
#include "lib/base/file.h"
#include "tests/formats/format_test_util.h"
#include "tests/support/temp_dir.h"

namespace ockpt::formats {
namespace {

using testing::TempDir;

TEST_CASE("OutputFormat: --format, then the extension, then npy") {
  CHECK(*OutputFormat("out", "") == "npy");
  CHECK(*OutputFormat("out.NPZ", "") == "npz");
  CHECK(*OutputFormat("a/b.hdf5", "") == "h5");
  CHECK(*OutputFormat("m.safetensors", "") == "safetensors");
  CHECK(*OutputFormat("m.safetensors", "npy") == "npy");
  CHECK(*OutputFormat("x", "HDF5") == "h5");
  CHECK(OutputFormat("x", "parquet").status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("ConvertTarget: checkpoints go to .npy directories, everything else to checkpoints") {
  TempDir dir;
  ConvertOptions o;
  o.src = dir / "weights.h5";
  o.dst = dir / "out";
  CHECK(*ConvertTarget(o) == "orbax");
  o.dst = dir / "out.npz";
  CHECK(*ConvertTarget(o) == "npz");
  o.format = "checkpoint";
  CHECK(*ConvertTarget(o) == "orbax");
  o.format = "bogus";
  CHECK(ConvertTarget(o).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("every file format carries the same tree; OpenSource sniffs files without extensions") {
  TempDir dir;
  testing::TestTree t = testing::SampleTree();
  {
    auto sink = CreateSink("h5", dir / "t.h5");
    REQUIRE(sink.ok());
    REQUIRE(testing::WriteTree(t, **sink).ok());
  }
  Context ctx;
  std::string prev = dir / "t.h5";
  for (const char* format : {"npz", "safetensors", "h5", "npy"}) {
    INFO(format);
    auto src = OpenSource(prev);
    INFO(src.status().message());
    REQUIRE(src.ok());
    std::string next = dir / (std::string("copy_") + format);  // no extension: sniffed when read
    auto sink = CreateSink(format, next);
    REQUIRE(sink.ok());
    Status s = CopyTree(**src, **sink, {}, std::nullopt, ctx);
    INFO(s.message());
    REQUIRE(s.ok());
    auto back = OpenSource(next);
    INFO(back.status().message());
    REQUIRE(back.ok());
    testing::CheckSameTree(t, **back);
    prev = next;
  }
}

TEST_CASE("convert of a checkpoint to .npy, .safetensors and .npz: the same bytes with 1 and 4 threads") {
  TempDir dir;
  testing::TestTree t;
  const int sizes[] = {300000, 5000, 70000, 12};
  for (int k = 0; k < 4; ++k) {
    LeafRecord r = testing::ArrayLeaf(
        testing::Keys({{"p", KeyType::kDict}, {std::string(1, static_cast<char>('a' + k)).c_str(), KeyType::kDict}}),
        k == 1 ? DType::kBFloat16 : DType::kFloat32, {sizes[k] / 4, 4});
    t.data[r.name()] = testing::PatternBytes(r, static_cast<uint32_t>(k + 1));
    t.leaves.push_back(std::move(r));
  }
  SortLeaves(&t.leaves);
  {
    auto sink = CreateSink("npy", dir / "src");
    REQUIRE(sink.ok());
    REQUIRE(testing::WriteTree(t, **sink, 1000).ok());
  }
  // Two layouts: one chunk per leaf (Orbax's default) and many chunks.
  for (std::optional<uint64_t> chunk_bytes : {std::optional<uint64_t>(), std::optional<uint64_t>(8192)}) {
    INFO("chunk bytes " << chunk_bytes.value_or(0));
    const std::string ckpt = dir / fmt::format("ckpt{}", chunk_bytes.value_or(0));
    ConvertOptions save;
    save.src = dir / "src";
    save.dst = ckpt;
    save.layout.chunk_bytes = chunk_bytes;
    REQUIRE(Convert(save, {}).ok());
    for (const char* ext : {"safetensors", "npz", "npy"}) {
      Bytes outputs[2];
      int k = 0;
      for (int threads : {1, 4}) {
        ConvertOptions o;
        o.src = ckpt;
        o.dst = dir / fmt::format("out{}_{}_{}.{}", chunk_bytes.value_or(0), threads, ext, ext);
        if (std::string(ext) == "npy") o.format = "npy";
        Context ctx;
        ctx.threads = threads;
        Status st = Convert(o, ctx);
        INFO(ext << " threads " << threads << ": " << st.message());
        REQUIRE(st.ok());
        auto back = OpenSource(o.dst);
        REQUIRE(back.ok());
        testing::CheckSameTree(t, **back, /*extras=*/false);
        outputs[k++] = std::string(ext) == "npy" ? *ReadFile(o.dst + "/p/a.npy") + *ReadFile(o.dst + "/_tree.json")
                                                 : *ReadFile(o.dst);
      }
      CHECK(outputs[0] == outputs[1]);
    }
  }
}

TEST_CASE("CopyTree selects and casts") {
  TempDir dir;
  testing::TestTree t = testing::SampleTree();
  {
    auto sink = CreateSink("safetensors", dir / "t.safetensors");
    REQUIRE(sink.ok());
    REQUIRE(testing::WriteTree(t, **sink).ok());
  }
  auto src = OpenSource(dir / "t.safetensors");
  REQUIRE(src.ok());
  std::vector<std::string> warnings;
  Context ctx;
  ctx.warn = [&](std::string_view w) { warnings.emplace_back(w); };
  auto sink = CreateSink("npz", dir / "k.npz");
  REQUIRE(sink.ok());
  REQUIRE(CopyTree(**src, **sink, {"params.*"}, DType::kFloat16, ctx).ok());
  auto out = OpenSource(dir / "k.npz");
  REQUIRE(out.ok());
  REQUIRE((*out)->leaves().size() == 2);
  CHECK((*out)->leaves()[0].dtype == DType::kFloat16);
  CHECK(warnings.size() == 2);  // float32 and bfloat16 -> float16 both lose information
  auto none = CreateSink("npz", dir / "none.npz");
  REQUIRE(none.ok());
  CHECK(CopyTree(**src, **none, {"nomatch"}, std::nullopt, ctx).code() == StatusCode::kNotFound);
}

TEST_CASE("OpenSource errors") {
  TempDir dir;
  CHECK(OpenSource(dir / "missing").status().code() == StatusCode::kNotFound);
  REQUIRE(WriteFile(dir / "plain.bin", "just text").ok());
  CHECK(OpenSource(dir / "plain.bin").status().code() == StatusCode::kUnimplemented);
  CHECK(CreateSink("h5", dir / "plain.bin").status().code() == StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace ockpt::formats
