// Tree and value comparison.

#include "lib/checkpoint/diff.h"
#include "lib/base/json.h"
#include "lib/base/utf8.h"

#include <cmath>
#include <complex>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lib/dtype/cast.h"

namespace ockpt {
namespace {

Shape Unravel(uint64_t flat, const Shape& shape) {
  Shape idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    uint64_t n = static_cast<uint64_t>(std::max<int64_t>(shape[d], 1));
    idx[d] = static_cast<int64_t>(flat % n);
    flat /= n;
  }
  return idx;
}

LeafDiff Difference(std::string name, std::string kind, std::string detail) {
  LeafDiff d;
  d.name = std::move(name);
  d.kind = std::move(kind);
  d.detail = std::move(detail);
  return d;
}

bool IsNaN(double re, double im) { return std::isnan(re) || std::isnan(im); }

Status CompareValues(const LeafRecord& la, const ArraySource& a, const ArraySource& b, const DiffOptions& opt,
                     LeafDiff* out) {
  DType dt = *la.dtype;
  size_t elem = SizeOf(dt);
  uint64_t total = a.size();
  uint64_t block = std::max<uint64_t>(elem, opt.block_bytes / elem * elem);
  Bytes ba, bb;
  bool numeric = CheckCast(dt, DType::kFloat64).ok();
  bool exact = opt.atol == 0 && opt.rtol == 0;
  for (uint64_t off = 0; off < total; off += block) {
    size_t n = static_cast<size_t>(std::min(block, total - off));
    ba.resize(n);
    bb.resize(n);
    OCKPT_RETURN_IF_ERROR(a.ReadAt(off, n, ba.data()));
    OCKPT_RETURN_IF_ERROR(b.ReadAt(off, n, bb.data()));
    if (ba == bb) continue;
    for (size_t i = 0; i < n; i += elem) {
      if (std::memcmp(ba.data() + i, bb.data() + i, elem) == 0) continue;
      bool differs = true;
      double diff = 0;
      if (numeric) {
        double ar, ai, br, bi;
        ElementToComplex(dt, ba.data() + i, &ar, &ai);
        ElementToComplex(dt, bb.data() + i, &br, &bi);
        if (IsNaN(ar, ai) && IsNaN(br, bi)) {
          differs = false;
        } else if (ar == br && ai == bi) {
          differs = false;  // e.g. -0.0 and 0.0
        } else {
          diff = std::abs(std::complex<double>(ar - br, ai - bi));
          differs = exact || !(diff <= opt.atol + opt.rtol * std::abs(std::complex<double>(br, bi)));
        }
      }
      if (!differs) continue;
      if (out->differing_elements == 0) out->first_index = Unravel((off + i) / elem, *la.shape);
      ++out->differing_elements;
      if (std::isnan(diff) || diff > out->max_abs_diff) out->max_abs_diff = std::isnan(diff) ? INFINITY : diff;
    }
  }
  return Status::Ok();
}

}  // namespace

Result<DiffResult> DiffTrees(const CheckpointSource& a, const CheckpointSource& b, const DiffOptions& opt) {
  std::map<std::string, size_t> ia, ib;
  for (size_t i = 0; i < a.leaves().size(); ++i) ia[a.leaves()[i].name()] = i;
  for (size_t i = 0; i < b.leaves().size(); ++i) ib[b.leaves()[i].name()] = i;
  DiffResult result;
  for (const auto& [name, i] : ia) {
    if (!ib.count(name)) result.differences.push_back(Difference(name, "only_in_a", "leaf only in A"));
  }
  for (const auto& [name, j] : ib) {
    if (!ia.count(name)) result.differences.push_back(Difference(name, "only_in_b", "leaf only in B"));
  }
  for (const auto& [name, i] : ia) {
    auto it = ib.find(name);
    if (it == ib.end()) continue;
    const LeafRecord& la = a.leaves()[i];
    const LeafRecord& lb = b.leaves()[it->second];
    ++result.leaves_compared;
    bool da = la.HasArrayData(), db = lb.HasArrayData();
    if (da != db || (!da && la.value_type != lb.value_type)) {
      result.differences.push_back(Difference(name, "node_type", fmt::format("{} vs {}", la.value_type, lb.value_type)));
      continue;
    }
    if (!da) {
      if (la.string_value != lb.string_value) {
        result.differences.push_back(Difference(name, "string", fmt::format("{} vs {}", DumpJson(Json(la.string_value.value_or(""))),
                                                                   DumpJson(Json(lb.string_value.value_or(""))))));
      }
      continue;
    }
    if (*la.dtype != *lb.dtype) {
      result.differences.push_back(Difference(name, "dtype", fmt::format("{} vs {}", Name(*la.dtype), Name(*lb.dtype))));
      continue;
    }
    if (*la.shape != *lb.shape) {
      result.differences.push_back(Difference(name, "shape", fmt::format("{} vs {}", ShapeString(*la.shape), ShapeString(*lb.shape))));
      continue;
    }
    OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ArraySource> sa, a.OpenArray(i));
    OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ArraySource> sb, b.OpenArray(it->second));
    LeafDiff d = Difference(name, "values", "");
    Status s = CompareValues(la, *sa, *sb, opt, &d);
    if (!s.ok()) return std::move(s).WithContext(fmt::format("comparing leaf '{}'", name));
    if (d.differing_elements > 0) {
      d.detail = fmt::format("{} of {} elements differ; first at {}; max |a-b| {}", d.differing_elements,
                             NumElements(*la.shape), ShapeString(*d.first_index), d.max_abs_diff);
      result.differences.push_back(std::move(d));
    }
  }
  std::sort(result.differences.begin(), result.differences.end(),
            [](const LeafDiff& x, const LeafDiff& y) { return x.name < y.name; });
  return result;
}

Json DiffToJson(const DiffResult& r, const std::string& a, const std::string& b) {
  Json j;
  j["a"] = a;
  j["b"] = b;
  j["identical"] = r.identical();
  j["leaves_compared"] = r.leaves_compared;
  Json diffs = Json::array();
  for (const LeafDiff& d : r.differences) {
    Json e;
    e["name"] = d.name;
    e["kind"] = d.kind;
    e["detail"] = d.detail;
    if (d.kind == "values") {
      e["differing_elements"] = d.differing_elements;
      e["first_index"] = d.first_index ? Json(*d.first_index) : Json(nullptr);
      e["max_abs_diff"] = std::isfinite(d.max_abs_diff) ? Json(d.max_abs_diff) : Json("inf");
    }
    diffs.push_back(std::move(e));
  }
  j["differences"] = std::move(diffs);
  return j;
}

void PrintDiffText(const DiffResult& r, const std::string& a, const std::string& b, std::ostream& out) {
  for (const LeafDiff& d : r.differences) {
    out << fmt::format("{}: {}: {}\n", d.name.empty() ? "(root)" : EscapeBytes(d.name), d.kind,
                       TextLine(d.detail));
  }
  if (r.identical()) {
    out << fmt::format("{} and {} are identical ({} leaves)\n", a, b, r.leaves_compared);
  } else {
    out << fmt::format("{} and {} differ in {} leaves\n", a, b, r.differences.size());
  }
}

}  // namespace ockpt
