// Comparing two trees leaf by leaf (`ockpt diff`): structure, dtype, shape,
// values, string values. Floating types (float16, bfloat16, float32, float64,
// complex) match when |a - b| <= atol + rtol * |b| (NaN equal to NaN, -0 equal
// to 0); integers (int4/int2 included) and bool compare exactly whatever the
// tolerances (int64/uint64 without a detour through double); float8/float4
// compare bit for bit.
// Arrays are compared in blocks read through ArraySource, so memory is
// bounded by the block size, not by the arrays.

#ifndef OCKPT_LIB_CHECKPOINT_DIFF_H_
#define OCKPT_LIB_CHECKPOINT_DIFF_H_

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "lib/checkpoint/source.h"

namespace ockpt {

struct DiffOptions {
  double atol = 0;
  double rtol = 0;
  uint64_t block_bytes = uint64_t{4} << 20;
  // Stop at the first difference (diff -q: only whether A and B differ).
  bool stop_at_first = false;
  // Called with the bytes of A compared so far in each block (may be empty).
  std::function<void(uint64_t)> progress;
};

struct LeafDiff {
  std::string name;
  // "only_in_a", "only_in_b", "node_type", "dtype", "shape", "values", "string".
  std::string kind;
  std::string detail;                 // human-readable
  uint64_t differing_elements = 0;    // kind "values"
  std::optional<Shape> first_index;   // kind "values": first differing element
  double max_abs_diff = 0;            // kind "values"
  // kind "values": "tolerance" (floating), "exact" (integers, bool), "bits" (float8/float4).
  std::string comparison;
};

struct DiffResult {
  uint64_t leaves_compared = 0;
  std::vector<LeafDiff> differences;  // sorted by leaf name
  bool identical() const { return differences.empty(); }
};

Result<DiffResult> DiffTrees(const CheckpointSource& a, const CheckpointSource& b, const DiffOptions& options);

Json DiffToJson(const DiffResult& result, const std::string& a, const std::string& b);
void PrintDiffText(const DiffResult& result, const std::string& a, const std::string& b, std::ostream& out);

}  // namespace ockpt

#endif  // OCKPT_LIB_CHECKPOINT_DIFF_H_
