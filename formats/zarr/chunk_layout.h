// Shape arithmetic and byte shuffling for zarr chunks: checked products,
// C-order strides, copying a box between two C-order arrays as contiguous
// runs, undoing a transpose and swapping element bytes.
//
// All functions work on raw element bytes; they never look at values.

#ifndef OCKPT_FORMATS_ZARR_CHUNK_LAYOUT_H_
#define OCKPT_FORMATS_ZARR_CHUNK_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lib/base/bytes.h"
#include "lib/checkpoint/tree.h"

namespace ockpt::zarr {

// Hard limits on what metadata may declare.
inline constexpr size_t kMaxRank = 32;
// Largest decoded chunk (or shard) we agree to materialise.
inline constexpr uint64_t kMaxChunkBytes = uint64_t{1} << 34;
// Largest array (in bytes) whose offsets we can address.
inline constexpr uint64_t kMaxArrayBytes = uint64_t{1} << 62;

// Product of dims times element_size, or kDataLoss naming `what` when a dim
// is negative or the product exceeds `limit`.
Result<uint64_t> CheckedByteCount(const Shape& shape, size_t element_size, uint64_t limit,
                                  std::string_view what);

// Element (not byte) strides of a C-order array.
std::vector<uint64_t> CStrides(const Shape& shape);

// Calls run(src_offset, dst_offset, num_bytes) for each maximal contiguous
// run needed to copy the box [0, extent) of a C-order `src_shape` array to
// [dst_origin, dst_origin + extent) of a C-order `dst_shape` array. Runs are
// coalesced over trailing dimensions that are whole in both arrays. Offsets
// and lengths are in bytes. REQUIRES: the box lies inside both arrays.
template <typename RunFn>
Status ForEachRun(const Shape& src_shape, const Shape& dst_shape, const Shape& dst_origin,
                  const Shape& extent, size_t element_size, RunFn&& run);

// Undoes a transpose: `encoded` is a C-order array whose dimension i is
// dimension perm[i] of the decoded array of shape `decoded_shape`; returns
// the decoded array in C order. REQUIRES: encoded.size() is the product of
// decoded_shape times element_size and perm is a permutation.
Bytes UndoTranspose(ByteView encoded, const Shape& decoded_shape, const std::vector<int>& perm,
                    size_t element_size);

// The i-th chunk index in C order of a chunk grid.
Shape GridIndex(const Shape& grid, uint64_t i);
// Chunks in a grid (the product of its dimensions; 1 for rank 0).
uint64_t NumChunks(const Shape& grid);

// Reverses the bytes of every `unit`-byte group of data (unit 1: no-op).
void SwapBytes(Bytes* data, size_t unit);
void SwapBytes(char* data, size_t size, size_t unit);

// `count` copies of `element`.
Bytes RepeatElement(ByteView element, uint64_t count);

// ---------------------------------------------------------------------------
// Implementation.

template <typename RunFn>
Status ForEachRun(const Shape& src_shape, const Shape& dst_shape, const Shape& dst_origin,
                  const Shape& extent, size_t element_size, RunFn&& run) {
  const size_t rank = extent.size();
  for (int64_t e : extent) {
    if (e <= 0) return Status::Ok();
  }
  std::vector<uint64_t> ss = CStrides(src_shape);
  std::vector<uint64_t> ds = CStrides(dst_shape);
  // Dimensions [k, rank) form one contiguous run in both arrays when every
  // dimension after k is whole in both.
  size_t k = rank;
  while (k > 0 && extent[k - 1] == src_shape[k - 1] && extent[k - 1] == dst_shape[k - 1]) --k;
  uint64_t run_elems = 1;
  if (k > 0) {
    --k;  // dimension k is partial: the run covers extent[k] rows of it.
    run_elems = static_cast<uint64_t>(extent[k]) * ss[k];
  } else if (rank > 0) {
    run_elems = static_cast<uint64_t>(extent[0]) * ss[0];
  }
  const uint64_t run_bytes = run_elems * element_size;
  uint64_t dst_base = 0;
  for (size_t d = 0; d < rank; ++d) dst_base += static_cast<uint64_t>(dst_origin[d]) * ds[d];
  // Odometer over dimensions [0, k).
  std::vector<int64_t> idx(k, 0);
  while (true) {
    uint64_t s = 0, t = dst_base;
    for (size_t d = 0; d < k; ++d) {
      s += static_cast<uint64_t>(idx[d]) * ss[d];
      t += static_cast<uint64_t>(idx[d]) * ds[d];
    }
    Status st = run(s * element_size, t * element_size, run_bytes);
    if (!st.ok()) return st;
    size_t d = k;
    while (d > 0) {
      --d;
      if (++idx[d] < extent[d]) break;
      idx[d] = 0;
      if (d == 0) return Status::Ok();
    }
    if (k == 0) return Status::Ok();
  }
}

}  // namespace ockpt::zarr

#endif  // OCKPT_FORMATS_ZARR_CHUNK_LAYOUT_H_
