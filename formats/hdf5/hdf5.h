// HDF5 files as a CheckpointSource and a CheckpointSink (docs/format/hdf5.md).
//
// Mapping: groups are dict (or sequence) nodes, datasets are arrays and
// scalars, scalar string datasets are string leaves; ockpt's own attributes
// record what HDF5 cannot say itself, so checkpoint -> .h5 -> checkpoint is
// lossless:
//
//   ockpt_key_type        "sequence" on a group whose children are list or
//                         tuple elements (absent: dict keys)
//   ockpt_value_type      on datasets and empty groups: "jax.Array",
//                         "np.ndarray", "scalar", "string", "Dict", "None", ...
//   ockpt_dtype           the real dtype of a leaf stored as raw unsigned bits
//                         (bfloat16 as uint16, float8_* and int4 as uint8)
//   ockpt_write_shape     a jax.Array leaf's write shape, when known
//   ockpt_sharding        a jax.Array leaf's sharding (JSON), when known
//   ockpt_custom_metadata on the root group: the tree's custom metadata (JSON)
//
// Any other .h5 file reads as a plain dict tree of np.ndarray leaves.

#ifndef OCKPT_FORMATS_HDF5_HDF5_H_
#define OCKPT_FORMATS_HDF5_HDF5_H_

#include <memory>
#include <string>

#include "lib/checkpoint/sink.h"
#include "lib/checkpoint/source.h"

namespace ockpt::hdf5 {

inline constexpr char kAttrKeyType[] = "ockpt_key_type";
inline constexpr char kAttrValueType[] = "ockpt_value_type";
inline constexpr char kAttrDType[] = "ockpt_dtype";
inline constexpr char kAttrWriteShape[] = "ockpt_write_shape";
inline constexpr char kAttrSharding[] = "ockpt_sharding";
inline constexpr char kAttrExtMetadata[] = "ockpt_ext_metadata";
inline constexpr char kAttrCustomMetadata[] = "ockpt_custom_metadata";

// True when the file starts with the HDF5 signature (at 0, 512, 1024, ...).
bool LooksLikeHdf5(const std::string& path);

// Opens an HDF5 file. kNotFound when missing or holding no datasets or
// groups; kDataLoss when not HDF5 or unreadable; kUnimplemented for dataset
// types ockpt has no dtype for (the message names the dataset). Soft and
// external links are not followed.
Result<std::unique_ptr<CheckpointSource>> OpenHdf5File(const std::string& path);

// Creates `path` (which must not exist) and writes the tree into it.
Result<std::unique_ptr<CheckpointSink>> CreateHdf5Sink(const std::string& path);

}  // namespace ockpt::hdf5

#endif  // OCKPT_FORMATS_HDF5_HDF5_H_
