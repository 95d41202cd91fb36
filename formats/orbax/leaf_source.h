// Internal to the PyTree item reader (pytree_item.cc, zarr_array_source.cc,
// leaf_stream.cc): where a leaf's values come from, and the random-access
// source over a zarr array (chunk cache and prefetching).

#ifndef OCKPT_FORMATS_ORBAX_LEAF_SOURCE_H_
#define OCKPT_FORMATS_ORBAX_LEAF_SOURCE_H_

#include <memory>
#include <optional>

#include "formats/orbax/checkpoint_reader.h"
#include "formats/zarr/zarr_array.h"

namespace ockpt::orbax {

// Where a leaf's values come from.
struct PyTreeItem::LeafSource {
  enum class Kind { kNone, kZarr, kInline } kind = Kind::kNone;
  std::optional<zarr::ZarrArray> array;
  Bytes inline_data;
};

// Random access to a zarr array's C-order bytes, decoding chunks on demand
// (a few recently used ones cached); with options.threads != 1 the next
// chunks of the grid are decoded ahead. array must outlive the source.
std::unique_ptr<ArraySource> NewZarrArraySource(const zarr::ZarrArray* array,
                                                zarr::ReadOptions options);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_LEAF_SOURCE_H_
