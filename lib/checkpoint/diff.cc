// Tree and value comparison.

#include "lib/checkpoint/diff.h"
#include "lib/base/json.h"
#include "lib/base/utf8.h"

#include <cmath>
#include <complex>
#include <cstring>
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

// How the elements of a dtype are compared.
enum class CompareMode {
  kTolerance,  // float16/bfloat16/float32/float64/complex: decoded exactly to double; atol/rtol apply
  kInteger,    // signed/unsigned integers (int4/int2 as raw bits too): exact, |a-b| computed in 128 bits
  kBool,       // nonzero vs zero
  kBits,       // float8/float4 and anything else: bit for bit
};

CompareMode ModeFor(DType dt) {
  switch (Info(dt).kind) {
    case DTypeKind::kBool: return CompareMode::kBool;
    case DTypeKind::kInt:
    case DTypeKind::kUInt: return CompareMode::kInteger;
    case DTypeKind::kFloat:
    case DTypeKind::kComplex:
      // Only the types that decode to double exactly; float8/float4 stay bitwise.
      return CheckCast(dt, DType::kFloat64).ok() ? CompareMode::kTolerance : CompareMode::kBits;
  }
  return CompareMode::kBits;
}

// An integer element as a 128-bit value (little-endian, sign-extended for
// signed types; int4/int2 are stored one per byte, sign-extended from their
// low bits).
__int128 IntegerValue(DType dt, const char* p) {
  size_t n = SizeOf(dt);
  unsigned __int128 u = 0;
  for (size_t k = 0; k < n; ++k) u |= static_cast<unsigned __int128>(static_cast<unsigned char>(p[k])) << (8 * k);
  int bits = static_cast<int>(8 * n);
  if (dt == DType::kInt4 || dt == DType::kUInt4) bits = 4;
  if (dt == DType::kInt2 || dt == DType::kUInt2) bits = 2;
  if (bits < 128) u &= (static_cast<unsigned __int128>(1) << bits) - 1;
  if (Info(dt).kind == DTypeKind::kInt && bits < 128 && (u >> (bits - 1)) & 1) {
    u |= ~((static_cast<unsigned __int128>(1) << bits) - 1);  // sign-extend
  }
  return static_cast<__int128>(u);
}

std::string ComparisonName(CompareMode mode) {
  switch (mode) {
    case CompareMode::kTolerance: return "tolerance";
    case CompareMode::kInteger:
    case CompareMode::kBool: return "exact";
    case CompareMode::kBits: return "bits";
  }
  return "bits";
}

Status CompareValues(const LeafRecord& la, const ArraySource& a, const ArraySource& b, const DiffOptions& opt,
                     LeafDiff* out) {
  DType dt = *la.dtype;
  size_t elem = SizeOf(dt);
  uint64_t total = a.size();
  uint64_t block = std::max<uint64_t>(elem, opt.block_bytes / elem * elem);
  Bytes ba, bb;
  CompareMode mode = ModeFor(dt);
  bool exact = opt.atol == 0 && opt.rtol == 0;
  for (uint64_t off = 0; off < total; off += block) {
    size_t n = static_cast<size_t>(std::min(block, total - off));
    ba.resize(n);
    bb.resize(n);
    OCKPT_RETURN_IF_ERROR(a.ReadAt(off, n, ba.data()));
    OCKPT_RETURN_IF_ERROR(b.ReadAt(off, n, bb.data()));
    if (opt.progress) opt.progress(n);
    if (ba == bb) continue;
    for (size_t i = 0; i < n; i += elem) {
      const char* pa = reinterpret_cast<const char*>(ba.data() + i);
      const char* pb = reinterpret_cast<const char*>(bb.data() + i);
      if (std::memcmp(pa, pb, elem) == 0) continue;
      bool differs = true;
      double diff = 0;
      switch (mode) {
        case CompareMode::kTolerance: {
          double ar, ai, br, bi;
          ElementToComplex(dt, pa, &ar, &ai);
          ElementToComplex(dt, pb, &br, &bi);
          if (IsNaN(ar, ai) && IsNaN(br, bi)) {
            differs = false;
          } else if (ar == br && ai == bi) {
            differs = false;  // e.g. -0.0 and 0.0
          } else {
            diff = std::abs(std::complex<double>(ar - br, ai - bi));
            differs = exact || !(diff <= opt.atol + opt.rtol * std::abs(std::complex<double>(br, bi)));
          }
          break;
        }
        case CompareMode::kInteger: {
          __int128 x = IntegerValue(dt, pa), y = IntegerValue(dt, pb);
          differs = x != y;  // int4 bytes may differ only in their unused high bits
          diff = static_cast<double>(x > y ? x - y : y - x);
          break;
        }
        case CompareMode::kBool: {
          bool x = false, y = false;
          for (size_t k = 0; k < elem; ++k) x |= pa[k] != 0, y |= pb[k] != 0;
          differs = x != y;
          diff = differs ? 1 : 0;
          break;
        }
        case CompareMode::kBits:
          break;  // no meaningful distance between two bit patterns: max_abs_diff stays 0
      }
      if (!differs) continue;
      if (out->differing_elements == 0) out->first_index = Unravel((off + i) / elem, *la.shape);
      ++out->differing_elements;
      if (std::isnan(diff) || diff > out->max_abs_diff) out->max_abs_diff = std::isnan(diff) ? INFINITY : diff;
      if (opt.stop_at_first) return Status::Ok();
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
    if (opt.stop_at_first && !result.differences.empty()) break;
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
    d.comparison = ComparisonName(ModeFor(*la.dtype));
    Status s = CompareValues(la, *sa, *sb, opt, &d);
    if (!s.ok()) return std::move(s).WithContext(fmt::format("comparing leaf '{}'", name));
    if (d.differing_elements > 0) {
      if (d.comparison == "bits") {
        d.detail = fmt::format("{}{} of {} elements differ (compared bit for bit); first at {}",
                               opt.stop_at_first ? "at least " : "", d.differing_elements,
                               NumElements(*la.shape), ShapeString(*d.first_index));
      } else {
        d.detail = fmt::format("{}{} of {} elements differ; first at {}; max |a-b| {}",
                               opt.stop_at_first ? "at least " : "", d.differing_elements,
                               NumElements(*la.shape), ShapeString(*d.first_index), d.max_abs_diff);
      }
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
      e["comparison"] = d.comparison;
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
