// Device meshes and partition specs for sharded restore (docs/sharding.md):
// parsing `--mesh AXIS=N,...` and `--spec GLOB=P,...`, picking a leaf's spec
// (first matching glob), and DeviceBox, the one function that says which
// part of a leaf a device holds. The model is JAX's: jax.sharding.Mesh (axes
// with sizes, devices numbered row-major over them), PartitionSpec (per
// dimension a mesh axis, several axes, or None) and NamedSharding, tiled as
// XLA tiles: every piece ceil(n/k) long, the trailing ones cut at n.

#ifndef OCKPT_LIB_CHECKPOINT_MESH_H_
#define OCKPT_LIB_CHECKPOINT_MESH_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/base/result.h"
#include "lib/checkpoint/tree.h"

namespace ockpt {

struct MeshAxis {
  std::string name;
  int64_t size = 1;
};

// A device mesh: named axes with sizes; devices 0 .. num_devices()-1 are
// numbered in row-major order over the axes (the last axis varies fastest),
// as np.arange(n).reshape(sizes) numbers them.
struct Mesh {
  std::vector<MeshAxis> axes;

  int64_t num_devices() const;
  // The axis called `name`, or -1.
  int FindAxis(std::string_view name) const;
  // Device `device`'s coordinate along each axis. REQUIRES: 0 <= device < num_devices().
  std::vector<int64_t> Coordinates(int64_t device) const;
};

// Caps that keep a mesh's arithmetic far from overflow.
inline constexpr int64_t kMaxMeshDevices = int64_t{1} << 20;

// "data=2,model=4". kInvalidArgument: empty, a duplicate or reserved axis
// name ("None"), a size that is not a positive integer, more than
// kMaxMeshDevices devices.
Result<Mesh> ParseMesh(std::string_view text);

// A PartitionSpec for the leaves whose dotted name matches `glob`: one entry
// per leading array dimension, each the mesh axes that dimension is split
// over (major first, as PartitionSpec(("a", "b"))); an empty entry is None
// (not split). Dimensions past the last entry are not split. No entries at
// all: replicated.
struct PartitionSpec {
  std::string glob;
  std::vector<std::vector<std::string>> dims;
};

// "GLOB=P[,P...]" with each P a mesh axis, axes joined by '+', or "None";
// "GLOB=" is the empty spec (replicated). The glob ends at the last '='.
// kInvalidArgument: no '=', an empty glob or entry, an axis not in `mesh`,
// an axis used twice (as JAX's DuplicateSpecError).
Result<PartitionSpec> ParseSpec(std::string_view text, const Mesh& mesh);

// The first spec whose glob matches `name` (MatchesGlob), or nullptr
// (the leaf is replicated).
const PartitionSpec* FindSpec(const std::vector<PartitionSpec>& specs, const std::string& name);

// A box of an array: [start, start + extent) per dimension.
struct Box {
  Shape start;
  Shape extent;

  bool Covers(const Shape& shape) const;  // the whole array
  // [[start, stop], ...], as _tree.json's "index".
  std::vector<std::pair<int64_t, int64_t>> Index() const;
};

// The part of an array of `shape` that device `device` of `mesh` holds
// under `spec` (nullptr: replicated, the whole array). A dimension of size n
// split k ways (k the product of its axes' sizes) is cut into pieces of
// ceil(n/k); piece i is [min(i*len, n), min((i+1)*len, n)), so trailing
// pieces may be short or empty. Piece i of a dimension split over axes
// (a, b) is i = coord(a) * size(b) + coord(b).
// kInvalidArgument: more spec entries than the array has dimensions, an
// axis not in the mesh, k > n, a device outside the mesh.
Result<Box> DeviceBox(const Mesh& mesh, const PartitionSpec* spec, const Shape& shape,
                      int64_t device);

}  // namespace ockpt

#endif  // OCKPT_LIB_CHECKPOINT_MESH_H_
