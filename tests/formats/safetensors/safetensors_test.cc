#include "formats/safetensors/safetensors.h"

#include <catch2/catch.hpp>

#include "lib/base/file.h"
#include "tests/formats/format_test_util.h"
#include "tests/support/temp_dir.h"

namespace ockpt::safetensors {
namespace {

using testing::TempDir;

Bytes FileWithHeader(const std::string& json, const Bytes& data) {
  Bytes b;
  PutU64LE(&b, json.size());
  return b + json + data;
}

Json HeaderOf(const std::string& path) {
  auto b = ReadFile(path);
  REQUIRE(b.ok());
  uint64_t n = LoadU64LE(b->data());
  REQUIRE(n % 8 == 0);
  return Json::parse(b->substr(8, n));
}

TEST_CASE("safetensors sink and source round-trip a tree losslessly") {
  TempDir dir;
  testing::TestTree t = testing::SampleTree();
  std::string path = dir / "t.safetensors";
  {
    auto sink = CreateSafetensorsSink(path);
    REQUIRE(sink.ok());
    Status s = testing::WriteTree(t, **sink);
    INFO(s.message());
    REQUIRE(s.ok());
  }
  CHECK(LooksLikeSafetensors(path));
  auto src = OpenSafetensorsFile(path);
  INFO(src.status().message());
  REQUIRE(src.ok());
  testing::CheckSameTree(t, **src);

  Json h = HeaderOf(path);
  CHECK(h["params.dense.kernel"]["dtype"] == "F32");
  CHECK(h["params.dense.bias"]["dtype"] == "BF16");
  CHECK(h["opt.2.z"]["dtype"] == "C64");
  CHECK(h["fp8"]["dtype"] == "F8_E4M3");
  CHECK(h["opt.10.mask"]["dtype"] == "BOOL");
  CHECK(h["__metadata__"]["run"] == "x");  // string-valued custom metadata is copied
  CHECK(h["__metadata__"].contains(kTreeKey));
  // Each tensor is aligned to its element size.
  for (const auto& [name, info] : h.items()) {
    if (name == "__metadata__") continue;
    uint64_t begin = info["data_offsets"][0];
    auto d = DTypeFromSafetensorsName(info["dtype"].get<std::string>());
    REQUIRE(d.ok());
    CHECK(begin % SizeOf(*d) == 0);
  }
}

TEST_CASE("safetensors: large custom metadata moves the data once, raw-bit types as U8") {
  TempDir dir;
  testing::TestTree t;
  LeafRecord a =
      testing::ArrayLeaf(testing::Keys({{"a", KeyType::kDict}}), DType::kFloat8E4M3FNUZ, {3, 3});
  LeafRecord b =
      testing::ArrayLeaf(testing::Keys({{"b", KeyType::kDict}}), DType::kFloat64, {1000});
  t.data["a"] = testing::PatternBytes(a, 1);
  t.data["b"] = testing::PatternBytes(b, 2);
  t.leaves = {a, b};
  t.custom_metadata = Json::object({{"blob", std::string(20000, 'z')}, {"n", 3}});
  std::string path = dir / "big.safetensors";
  {
    auto sink = CreateSafetensorsSink(path);
    REQUIRE(sink.ok());
    REQUIRE(testing::WriteTree(t, **sink, 100).ok());
  }
  auto src = OpenSafetensorsFile(path);
  INFO(src.status().message());
  REQUIRE(src.ok());
  testing::CheckSameTree(t, **src);
  CHECK(HeaderOf(path)["a"]["dtype"] == "U8");
}

TEST_CASE("safetensors sink refusals") {
  TempDir dir;
  auto sink = CreateSafetensorsSink(dir / "c.safetensors");
  REQUIRE(sink.ok());
  LeafRecord c =
      testing::ArrayLeaf(testing::Keys({{"c", KeyType::kDict}}), DType::kComplex128, {2});
  CHECK((*sink)->Begin({c}).code() == StatusCode::kUnimplemented);
  auto no_begin = CreateSafetensorsSink(dir / "d.safetensors");
  REQUIRE(no_begin.ok());
  LeafRecord f = testing::ArrayLeaf(testing::Keys({{"f", KeyType::kDict}}), DType::kFloat32, {1});
  CHECK((*no_begin)->WriteArray(f, [](ArrayWriter&) { return Status::Ok(); }).code() ==
        StatusCode::kInternal);
  CHECK(CreateSafetensorsSink(dir / "c.safetensors").status().code() == StatusCode::kAlreadyExists);
}

TEST_CASE("foreign safetensors: dotted names become dict keys, __metadata__ custom metadata") {
  TempDir dir;
  std::string json =
      R"({"__metadata__":{"format":"pt"},"model.layers.0.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("model.bias":{"dtype":"I8","shape":[],"data_offsets":[8,9]}})";
  Bytes data = "ABCDEFGH" + Bytes("\x7f", 1);
  REQUIRE(WriteFile(dir / "f.safetensors", FileWithHeader(json, data)).ok());
  auto src = OpenSafetensorsFile(dir / "f.safetensors");
  INFO(src.status().message());
  REQUIRE(src.ok());
  const auto& leaves = (*src)->leaves();
  REQUIRE(leaves.size() == 2);
  CHECK(leaves[0].name() == "model.bias");
  CHECK(leaves[0].shape == Shape{});
  CHECK(leaves[1].keypath.size() == 4);
  CHECK(leaves[1].keypath[2].key == "0");
  CHECK(leaves[1].value_type == "np.ndarray");
  CHECK((*src)->custom_metadata() == Json::object({{"format", "pt"}}));
  CHECK(testing::ReadWhole(**src, 1) == "ABCDEFGH");
  CHECK(testing::ReadWhole(**src, 0) == "\x7f");
}

TEST_CASE("safetensors hostile inputs fail cleanly") {
  TempDir dir;
  auto open = [&](const std::string& name, const Bytes& content) {
    REQUIRE(WriteFile(dir / name, content).ok());
    auto r = OpenSafetensorsFile(dir / name);
    INFO(name << ": " << r.status().message());
    CHECK(r.status().code() == StatusCode::kDataLoss);
    CHECK(r.status().message().find(name) != std::string::npos);
    return r.status().message();
  };
  std::string t = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  open("short.safetensors", "abc");
  {
    Bytes b = FileWithHeader(t, Bytes(8, '\0'));
    open("truncated_header.safetensors", b.substr(0, 20));
  }
  {
    Bytes b;
    PutU64LE(&b, uint64_t{1} << 40);
    b += "{}";
    CHECK(open("huge.safetensors", b).find("limit") != std::string::npos);
  }
  open(
      "past_eof.safetensors",
      FileWithHeader(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", Bytes(8, '\0')));
  open("gap.safetensors",
       FileWithHeader(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", Bytes(8, '\0')));
  open(
      "overlap.safetensors",
      FileWithHeader(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          Bytes(8, '\0')));
  open("length.safetensors",
       FileWithHeader(R"({"t":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", Bytes(8, '\0')));
  open("trailing.safetensors", FileWithHeader(t, Bytes(12, '\0')));
  open("dtype.safetensors",
       FileWithHeader(R"({"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", Bytes(8, '\0')));
  open("meta.safetensors", FileWithHeader(R"({"__metadata__":{"a":1}})", ""));
  open("json.safetensors", FileWithHeader(R"({"t":)", ""));
  open(
      "negative.safetensors",
      FileWithHeader(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", Bytes(8, '\0')));
  open("emptykey.safetensors",
       FileWithHeader(R"({"a..b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                      Bytes(8, '\0')));
  open(
      "clash.safetensors",
      FileWithHeader(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a.b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          Bytes(8, '\0')));
  CHECK(OpenSafetensorsFile(dir / "missing.safetensors").status().code() == StatusCode::kNotFound);
  REQUIRE(WriteFile(dir / "f4.safetensors",
                    FileWithHeader(R"({"t":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})",
                                   Bytes(1, '\0')))
              .ok());
  CHECK(OpenSafetensorsFile(dir / "f4.safetensors").status().code() == StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace ockpt::safetensors
