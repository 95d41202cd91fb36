// A directory of .npy files as a CheckpointSource: the layout `restore`
// writes. With `_tree.json` the tree (key types, value types, strings, empty
// nodes, custom metadata, raw-bit dtypes) comes from it; without, every
// subdirectory is a dict and every `*.npy` file an np.ndarray leaf.

#ifndef OCKPT_FORMATS_NPY_NPY_DIR_H_
#define OCKPT_FORMATS_NPY_NPY_DIR_H_

#include <string>

#include "lib/checkpoint/sink.h"
#include "lib/checkpoint/source.h"

namespace ockpt::npy {

// Opens dir. kNotFound when it does not exist or holds no leaves;
// kDataLoss when a .npy is unreadable or disagrees with _tree.json.
Result<std::unique_ptr<CheckpointSource>> OpenNpyDirectory(const std::string& dir);

// Random access to the data of one .npy file (little-endian, C order only).
// `expected` (optional) overrides the dtype for raw-bit types: a bfloat16
// leaf stored as "<u2" reads as bfloat16.
Result<std::unique_ptr<ArraySource>> OpenNpyFile(const std::string& path, DType* dtype, Shape* shape,
                                                 std::optional<DType> expected = std::nullopt);

// A CheckpointSink writing `dir/<k1>/.../<kn>.npy` per array leaf and
// `dir/_tree.json` at Finish. dir must exist. Key path components that are
// not plain file names are refused (kDataLoss).
Result<std::unique_ptr<CheckpointSink>> CreateNpyDirectorySink(const std::string& dir);

}  // namespace ockpt::npy

#endif  // OCKPT_FORMATS_NPY_NPY_DIR_H_
