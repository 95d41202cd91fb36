// Meshes, partition specs and device boxes (mesh.h).

#include "lib/checkpoint/mesh.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>

namespace ockpt {
namespace {

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t begin = 0;
  while (true) {
    size_t end = text.find(sep, begin);
    out.push_back(
        text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
    if (end == std::string_view::npos) return out;
    begin = end + 1;
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ValidAxisName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c == '=' || c == ',' || c == '+' || c == ' ' || c == '\t') return false;
  }
  return true;
}

}  // namespace

int64_t Mesh::num_devices() const {
  int64_t n = 1;
  for (const MeshAxis& a : axes) n *= a.size;
  return n;
}

int Mesh::FindAxis(std::string_view name) const {
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<int64_t> Mesh::Coordinates(int64_t device) const {
  std::vector<int64_t> coords(axes.size());
  for (size_t i = axes.size(); i > 0; --i) {
    coords[i - 1] = device % axes[i - 1].size;
    device /= axes[i - 1].size;
  }
  return coords;
}

Result<Mesh> ParseMesh(std::string_view text) {
  Mesh mesh;
  if (Trim(text).empty()) return InvalidArgumentError("empty mesh (expected AXIS=N[,AXIS=N...])");
  int64_t devices = 1;
  for (std::string_view part : Split(text, ',')) {
    part = Trim(part);
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgumentError("mesh entry '{}' is not AXIS=N", part);
    }
    std::string_view name = Trim(part.substr(0, eq));
    std::string_view size_text = Trim(part.substr(eq + 1));
    if (!ValidAxisName(name)) return InvalidArgumentError("mesh entry '{}': bad axis name", part);
    if (name == "None")
      return InvalidArgumentError("mesh axis name 'None' is reserved (unsplit dimension)");
    if (mesh.FindAxis(name) >= 0) return InvalidArgumentError("mesh axis '{}' given twice", name);
    int64_t size = 0;
    auto [ptr, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
    if (ec != std::errc() || ptr != size_text.data() + size_text.size() || size <= 0) {
      return InvalidArgumentError("mesh axis '{}': size '{}' is not a positive integer", name,
                                  size_text);
    }
    if (size > kMaxMeshDevices || devices * size > kMaxMeshDevices) {
      return InvalidArgumentError("mesh has more than {} devices", kMaxMeshDevices);
    }
    devices *= size;
    mesh.axes.push_back({std::string(name), size});
  }
  return mesh;
}

Result<PartitionSpec> ParseSpec(std::string_view text, const Mesh& mesh) {
  size_t eq = text.rfind('=');
  if (eq == std::string_view::npos) {
    return InvalidArgumentError("spec '{}' is not GLOB=P[,P...]", text);
  }
  PartitionSpec spec;
  spec.glob = std::string(Trim(text.substr(0, eq)));
  if (spec.glob.empty()) return InvalidArgumentError("spec '{}': empty glob", text);
  std::string_view entries = Trim(text.substr(eq + 1));
  if (entries.empty()) return spec;  // replicated
  std::vector<std::string> used;
  for (std::string_view entry : Split(entries, ',')) {
    entry = Trim(entry);
    if (entry.empty()) {
      return InvalidArgumentError("spec '{}': empty entry (use None for an unsplit dimension)",
                                  text);
    }
    std::vector<std::string> axes;
    if (entry != "None") {
      for (std::string_view axis : Split(entry, '+')) {
        axis = Trim(axis);
        if (axis.empty() || axis == "None") {
          return InvalidArgumentError("spec '{}': entry '{}' is not AXIS[+AXIS...] or None", text,
                                      entry);
        }
        if (mesh.FindAxis(axis) < 0) {
          std::vector<std::string> names;
          for (const MeshAxis& a : mesh.axes) names.push_back(a.name);
          return InvalidArgumentError("spec '{}': '{}' is not a mesh axis (the mesh has {})", text,
                                      axis, fmt::join(names, ", "));
        }
        if (std::find(used.begin(), used.end(), axis) != used.end()) {
          return InvalidArgumentError("spec '{}': mesh axis '{}' is used twice", text, axis);
        }
        used.emplace_back(axis);
        axes.emplace_back(axis);
      }
    }
    spec.dims.push_back(std::move(axes));
  }
  return spec;
}

const PartitionSpec* FindSpec(const std::vector<PartitionSpec>& specs, const std::string& name) {
  for (const PartitionSpec& s : specs) {
    if (MatchesGlob(s.glob, name)) return &s;
  }
  return nullptr;
}

bool Box::Covers(const Shape& shape) const {
  if (start.size() != shape.size() || extent.size() != shape.size()) return false;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (start[d] != 0 || extent[d] != shape[d]) return false;
  }
  return true;
}

std::vector<std::pair<int64_t, int64_t>> Box::Index() const {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (size_t d = 0; d < start.size(); ++d) out.emplace_back(start[d], start[d] + extent[d]);
  return out;
}

Result<Box> DeviceBox(const Mesh& mesh, const PartitionSpec* spec, const Shape& shape,
                      int64_t device) {
  if (device < 0 || device >= mesh.num_devices()) {
    return InvalidArgumentError("device {} is outside the mesh of {} devices", device,
                                mesh.num_devices());
  }
  Box box{Shape(shape.size(), 0), shape};
  if (spec == nullptr || spec->dims.empty()) return box;
  if (spec->dims.size() > shape.size()) {
    return InvalidArgumentError("spec '{}' has {} entries, more than the {} dimensions of shape {}",
                                spec->glob, spec->dims.size(), shape.size(), ShapeString(shape));
  }
  const std::vector<int64_t> coords = mesh.Coordinates(device);
  for (size_t d = 0; d < spec->dims.size(); ++d) {
    const std::vector<std::string>& axes = spec->dims[d];
    if (axes.empty()) continue;
    int64_t k = 1, piece = 0;  // piece = mixed-radix index over the axes, major first
    for (const std::string& name : axes) {
      int a = mesh.FindAxis(name);
      if (a < 0)
        return InvalidArgumentError("spec '{}': '{}' is not a mesh axis", spec->glob, name);
      k *= mesh.axes[a].size;
      piece = piece * mesh.axes[a].size + coords[a];
    }
    const int64_t n = shape[d];
    if (k > n && k > 1) {  // a dimension of size 0 may still be "split" one way
      return InvalidArgumentError(
          "spec '{}': dimension {} of shape {} has {} elements and cannot be split {} ways ({})",
          spec->glob, d, ShapeString(shape), n, k, fmt::join(axes, "+"));
    }
    const int64_t len = (n + k - 1) / k;
    const int64_t lo = std::min(piece * len, n);
    const int64_t hi = std::min(lo + len, n);
    box.start[d] = lo;
    box.extent[d] = hi - lo;
  }
  return box;
}

}  // namespace ockpt
