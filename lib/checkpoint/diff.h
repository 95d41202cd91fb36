// Comparing two trees leaf by leaf (`ockpt diff`): structure, dtype, shape,
// values with |a - b| <= atol + rtol * |b| (NaN equal to NaN), string values.
// Arrays are compared in blocks read through ArraySource, so memory is
// bounded by the block size, not by the arrays.

#ifndef OCKPT_LIB_CHECKPOINT_DIFF_H_
#define OCKPT_LIB_CHECKPOINT_DIFF_H_

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
};

struct LeafDiff {
  std::string name;
  // "only_in_a", "only_in_b", "node_type", "dtype", "shape", "values", "string".
  std::string kind;
  std::string detail;                 // human-readable
  uint64_t differing_elements = 0;    // kind "values"
  std::optional<Shape> first_index;   // kind "values": first differing element
  double max_abs_diff = 0;            // kind "values"
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
