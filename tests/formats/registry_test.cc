#include "formats/registry.h"

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
