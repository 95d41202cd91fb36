// Test-only: writes a set of loose zarr arrays (no OCDBT) with the writer so
// that zarr_python_check.py can open them with zarr-python / numpy.
//
//   zarr_write_tool OUT_DIR
//
// For each case: OUT_DIR/<name>/ (.zarray or zarr.json + chunk files),
// OUT_DIR/<name>.bin (the array's C-order little-endian bytes) and one line
// in OUT_DIR/cases.json.

#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "formats/zarr/zarr_writer.h"
#include "lib/base/file.h"

namespace ockpt::zarr {
namespace {

struct Case {
  std::string name;
  int format;
  DType dtype;
  Shape shape;
  Shape chunks;
  std::optional<int> level;
};

Bytes MakeData(const Case& c, std::mt19937& rng) {
  const size_t esize = SizeOf(c.dtype);
  const size_t n = static_cast<size_t>(NumElements(c.shape));
  Bytes data(n * esize, '\0');
  for (size_t i = 0; i < n; ++i) {
    if (c.dtype == DType::kBool) {
      data[i] = static_cast<char>(rng() & 1);
      continue;
    }
    for (size_t b = 0; b < esize; ++b) data[i * esize + b] = static_cast<char>(rng());
  }
  return data;
}

Status WriteCase(const std::string& out, const Case& c, std::mt19937& rng) {
  WriteSpec spec;
  spec.zarr_format = c.format;
  spec.dtype = c.dtype;
  spec.shape = c.shape;
  spec.chunk_shape = c.chunks;
  spec.zstd_level = c.level;
  OCKPT_RETURN_IF_ERROR(ValidateWriteSpec(spec));
  const Bytes data = MakeData(c, rng);
  const std::string prefix = c.name + "/";
  auto put = [&](const std::string& key, ByteView value) -> Status {
    const std::string path = JoinPath(out, key);
    OCKPT_RETURN_IF_ERROR(MakeDirectories(Dirname(path)));
    return WriteFile(path, value);
  };
  OCKPT_RETURN_IF_ERROR(put(MetadataKey(spec, prefix), EncodeMetadata(spec)));
  MemoryArraySource src(data);
  OCKPT_RETURN_IF_ERROR(WriteArray(spec, prefix, src, put));
  return WriteFile(JoinPath(out, c.name + ".bin"), data);
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: zarr_write_tool OUT_DIR\n");
    return 2;
  }
  const std::string out = argv[1];
  // NumPy-native dtypes only: zarr-python has no bfloat16 / float8 / int4.
  const DType dtypes[] = {
      DType::kBool,    DType::kInt8,    DType::kInt16,     DType::kInt32,      DType::kInt64,
      DType::kUInt8,   DType::kUInt16,  DType::kUInt32,    DType::kUInt64,     DType::kFloat16,
      DType::kFloat32, DType::kFloat64, DType::kComplex64, DType::kComplex128,
  };
  const Shape full_shape = {5, 3, 4, 2};
  const Shape full_chunks = {2, 3, 3, 5};
  std::vector<Case> cases;
  for (DType d : dtypes) {
    for (size_t rank = 0; rank <= 4; ++rank) {
      for (int format : {2, 3}) {
        for (bool compressed : {false, true}) {
          Case c;
          c.format = format;
          c.dtype = d;
          c.shape.assign(full_shape.begin(), full_shape.begin() + rank);
          c.chunks.assign(full_chunks.begin(), full_chunks.begin() + rank);
          if (compressed) c.level = format == 2 ? 1 : 3;
          c.name = fmt::format("v{}_{}_r{}_{}", format, Name(d), rank, compressed ? "zstd" : "raw");
          cases.push_back(std::move(c));
        }
      }
    }
  }
  std::mt19937 rng(42);
  nlohmann::json list = nlohmann::json::array();
  for (const Case& c : cases) {
    Status st = WriteCase(out, c, rng);
    if (!st.ok()) {
      std::fprintf(stderr, "%s: %s\n", c.name.c_str(), st.ToString().c_str());
      return 1;
    }
    list.push_back({{"name", c.name},
                    {"zarr_format", c.format},
                    {"dtype", std::string(Name(c.dtype))},
                    {"shape", c.shape},
                    {"chunks", c.chunks},
                    {"level", c.level ? nlohmann::json(*c.level) : nlohmann::json(nullptr)}});
  }
  Status st = WriteFile(JoinPath(out, "cases.json"), list.dump(1));
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace ockpt::zarr

int main(int argc, char** argv) { return ockpt::zarr::Main(argc, argv); }
