// Mesh and PartitionSpec parsing and DeviceBox against hand-derived JAX /
// XLA shardings (jax.sharding.NamedSharding(Mesh(np.arange(n).reshape(...),
// axes), PartitionSpec(...)).devices_indices_map(shape)).

#include "lib/checkpoint/mesh.h"

#include <catch2/catch.hpp>

namespace ockpt {
namespace {

Mesh M(std::string_view text) {
  auto m = ParseMesh(text);
  REQUIRE(m.ok());
  return *m;
}

PartitionSpec S(std::string_view text, const Mesh& mesh) {
  auto s = ParseSpec(text, mesh);
  REQUIRE(s.ok());
  return *s;
}

using Index = std::vector<std::pair<int64_t, int64_t>>;

Index BoxOf(const Mesh& mesh, const PartitionSpec* spec, const Shape& shape, int64_t device) {
  auto b = DeviceBox(mesh, spec, shape, device);
  REQUIRE(b.ok());
  return b->Index();
}

TEST_CASE("ParseMesh reads axes in order and numbers devices row-major") {
  Mesh m = M("data=2, model=4");
  REQUIRE(m.axes.size() == 2);
  CHECK(m.axes[0].name == "data");
  CHECK(m.axes[0].size == 2);
  CHECK(m.axes[1].name == "model");
  CHECK(m.axes[1].size == 4);
  CHECK(m.num_devices() == 8);
  CHECK(m.FindAxis("model") == 1);
  CHECK(m.FindAxis("x") == -1);
  // np.arange(8).reshape(2, 4): device 6 sits at [1, 2].
  CHECK(m.Coordinates(6) == std::vector<int64_t>{1, 2});
  CHECK(m.Coordinates(3) == std::vector<int64_t>{0, 3});
}

TEST_CASE("ParseMesh refuses bad meshes") {
  for (const char* bad : {"", "data", "data=0", "data=-1", "data=2x", "data=2,data=2", "None=2",
                          "=2", "a=1048576,b=2", "a+b=2"}) {
    INFO(bad);
    auto m = ParseMesh(bad);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("ParseSpec reads axes, joined axes and None") {
  Mesh m = M("data=2,model=2,x=2");
  PartitionSpec s = S("params.*.kernel=None,data+model", m);
  CHECK(s.glob == "params.*.kernel");
  REQUIRE(s.dims.size() == 2);
  CHECK(s.dims[0].empty());
  CHECK(s.dims[1] == std::vector<std::string>{"data", "model"});
  CHECK(S("*=", m).dims.empty());
  // The glob ends at the last '='.
  CHECK(S("a=b=x", m).glob == "a=b");
}

TEST_CASE("ParseSpec refuses bad specs") {
  Mesh m = M("data=2,model=2");
  for (const char* bad : {"*", "=data", "*=data,,model", "*=nope", "*=data,data", "*=data+data",
                          "*=data+", "*=None+data", "*=model,data+model"}) {
    INFO(bad);
    auto s = ParseSpec(bad, m);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("FindSpec takes the first matching glob; '*' crosses dots") {
  Mesh m = M("model=2");
  std::vector<PartitionSpec> specs{S("params.*.bias=", m), S("params.*=model", m),
                                   S("*=None,model", m)};
  CHECK(FindSpec(specs, "params.dense.bias") == &specs[0]);
  CHECK(FindSpec(specs, "params.dense.kernel") == &specs[1]);
  CHECK(FindSpec(specs, "opt.mu") == &specs[2]);
  std::vector<PartitionSpec> narrow{S("params.*=model", m)};
  CHECK(FindSpec(narrow, "step") == nullptr);
}

TEST_CASE("DeviceBox: replicated leaves and unmatched leaves are whole") {
  Mesh m = M("data=2,model=4");
  PartitionSpec empty = S("*=", m);
  for (int64_t d = 0; d < 8; ++d) {
    CHECK(BoxOf(m, nullptr, {6, 4}, d) == Index{{0, 6}, {0, 4}});
    CHECK(BoxOf(m, &empty, {6, 4}, d) == Index{{0, 6}, {0, 4}});
  }
  auto b = DeviceBox(m, nullptr, {}, 3);  // a scalar
  REQUIRE(b.ok());
  CHECK(b->start.empty());
  CHECK(b->Covers({}));
}

TEST_CASE("DeviceBox: one axis, even split") {
  Mesh m = M("model=4");
  PartitionSpec s = S("*=model", m);
  CHECK(BoxOf(m, &s, {8, 3}, 0) == Index{{0, 2}, {0, 3}});
  CHECK(BoxOf(m, &s, {8, 3}, 1) == Index{{2, 4}, {0, 3}});
  CHECK(BoxOf(m, &s, {8, 3}, 3) == Index{{6, 8}, {0, 3}});
  PartitionSpec s2 = S("*=None,model", m);
  CHECK(BoxOf(m, &s2, {3, 8}, 2) == Index{{0, 3}, {4, 6}});
}

TEST_CASE("DeviceBox: uneven dimensions are tiled as XLA tiles them") {
  Mesh m = M("x=4");
  PartitionSpec s = S("*=x", m);
  // n=10, k=4: pieces of ceil(10/4)=3: [0,3) [3,6) [6,9) [9,10).
  CHECK(BoxOf(m, &s, {10}, 0) == Index{{0, 3}});
  CHECK(BoxOf(m, &s, {10}, 2) == Index{{6, 9}});
  CHECK(BoxOf(m, &s, {10}, 3) == Index{{9, 10}});
  // n=5, k=4: pieces of 2: [0,2) [2,4) [4,5) and an empty one at the end.
  CHECK(BoxOf(m, &s, {5}, 2) == Index{{4, 5}});
  CHECK(BoxOf(m, &s, {5}, 3) == Index{{5, 5}});
  // n=4, k=4: one each.
  CHECK(BoxOf(m, &s, {4}, 3) == Index{{3, 4}});
}

TEST_CASE("DeviceBox: two axes over two dimensions") {
  // Mesh(np.arange(8).reshape(2, 4), ("data", "model")), P("data", "model").
  Mesh m = M("data=2,model=4");
  PartitionSpec s = S("*=data,model", m);
  // Device 6 = [1, 2]: rows [3,6), columns [4,6) of a (6, 8) array.
  CHECK(BoxOf(m, &s, {6, 8}, 6) == Index{{3, 6}, {4, 6}});
  CHECK(BoxOf(m, &s, {6, 8}, 0) == Index{{0, 3}, {0, 2}});
  // P("model", "data") transposes the roles.
  PartitionSpec t = S("*=model,data", m);
  CHECK(BoxOf(m, &t, {8, 6}, 6) == Index{{4, 6}, {3, 6}});
  // One axis only: the other axis replicates (devices 1 and 5 hold the same piece).
  PartitionSpec only = S("*=model", m);
  CHECK(BoxOf(m, &only, {8, 2}, 1) == BoxOf(m, &only, {8, 2}, 5));
  CHECK(BoxOf(m, &only, {8, 2}, 1) == Index{{2, 4}, {0, 2}});
}

TEST_CASE("DeviceBox: several axes on one dimension, major first") {
  Mesh m = M("data=2,model=4");
  PartitionSpec s = S("*=data+model", m);
  // Device [d, m] holds piece d*4 + m of 8: device 6 = [1, 2] -> piece 6.
  for (int64_t dev = 0; dev < 8; ++dev) {
    CHECK(BoxOf(m, &s, {16}, dev) == Index{{2 * dev, 2 * dev + 2}});
  }
  PartitionSpec r = S("*=model+data", m);
  // Piece m*2 + d: device 6 = [1, 2] -> piece 5.
  CHECK(BoxOf(m, &r, {16}, 6) == Index{{10, 12}});
}

TEST_CASE("DeviceBox: errors") {
  Mesh m = M("data=2,model=4");
  PartitionSpec long_spec = S("*=data,model", m);
  auto b = DeviceBox(m, &long_spec, {8}, 0);
  REQUIRE_FALSE(b.ok());
  CHECK(b.status().code() == StatusCode::kInvalidArgument);
  PartitionSpec s = S("*=model", m);
  b = DeviceBox(m, &s, {3}, 0);  // k=4 > n=3
  REQUIRE_FALSE(b.ok());
  CHECK(b.status().code() == StatusCode::kInvalidArgument);
  b = DeviceBox(m, &s, {8}, 8);  // no device 8
  REQUIRE_FALSE(b.ok());
  b = DeviceBox(m, &s, {}, 0);  // a scalar cannot be split
  REQUIRE_FALSE(b.ok());
  // A dimension of size 0 on a one-device axis is fine.
  Mesh one = M("x=1");
  PartitionSpec z = S("*=x", one);
  CHECK(BoxOf(one, &z, {0, 2}, 0) == Index{{0, 0}, {0, 2}});
}

TEST_CASE("DeviceBox: the pieces of all devices tile the array") {
  Mesh m = M("a=2,b=3,c=2");
  for (const char* text : {"*=a+c,b", "*=b,None,a", "*=c+b+a", "*=None,b+a"}) {
    INFO(text);
    PartitionSpec s = S(text, m);
    Shape shape{13, 7, 12};
    std::vector<int> hits(13 * 7 * 12, 0);
    for (int64_t dev = 0; dev < m.num_devices(); ++dev) {
      auto box = DeviceBox(m, &s, shape, dev);
      REQUIRE(box.ok());
      for (int64_t i = box->start[0]; i < box->start[0] + box->extent[0]; ++i)
        for (int64_t j = box->start[1]; j < box->start[1] + box->extent[1]; ++j)
          for (int64_t k = box->start[2]; k < box->start[2] + box->extent[2]; ++k)
            ++hits[(i * 7 + j) * 12 + k];
    }
    // Every element is held by as many devices as the unused axes replicate.
    int64_t used = 1;
    for (const auto& dim : s.dims)
      for (const std::string& axis : dim) used *= m.axes[m.FindAxis(axis)].size;
    for (int h : hits) CHECK(h == m.num_devices() / used);
  }
}

}  // namespace
}  // namespace ockpt
