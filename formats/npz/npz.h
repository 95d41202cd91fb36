// NumPy .npz archives as a CheckpointSource and a CheckpointSink
// (docs/format/npz.md).
//
// An .npz is a ZIP of .npy members. Member `a/b/c.npy` is the leaf with
// dict keys a, b, c (what np.savez(f, **{"a/b/c": x}) writes). An optional
// `_tree.json` member has the meaning it has in a .npy directory (key types,
// value types, raw-bit dtypes, strings, empty nodes, custom metadata), so
// checkpoint -> .npz -> checkpoint is lossless. The sink writes it only when
// the plain members would lose something (TreeJsonReason); a tree of plain
// NumPy arrays under dict keys gives a plain .npz.
//
// Reading goes through libzip: stored members are read in place on demand;
// compressed ones (np.savez_compressed) are inflated once into an unnamed
// temporary file when their array is opened. Writing stores members
// uncompressed, streaming each array straight into its place in the archive.

#ifndef OCKPT_FORMATS_NPZ_NPZ_H_
#define OCKPT_FORMATS_NPZ_NPZ_H_

#include <memory>
#include <string>
#include <vector>

#include "lib/checkpoint/sink.h"
#include "lib/checkpoint/source.h"

namespace ockpt::npz {

// True when the file starts with a ZIP local file header ("PK\3\4") or is an
// empty archive ("PK\5\6").
bool LooksLikeZip(const std::string& path);

// Opens an .npz. kNotFound when missing or holding no arrays; kDataLoss when
// not a ZIP, corrupt, or a member disagrees with _tree.json.
Result<std::unique_ptr<CheckpointSource>> OpenNpzFile(const std::string& path);

// Why an .npz of these leaves needs `_tree.json` ("bfloat16 leaf 'w' (raw
// bits), 1 string leaf, custom metadata"), or "" when the members alone say
// everything: only np.ndarray leaves of NumPy-native dtypes under dict keys,
// no sharding, no custom metadata. Storage fields (chunks, compressor) do not
// count.
std::string TreeJsonReason(const std::vector<LeafRecord>& leaves, const Json& custom_metadata);

// Creates `path` (which must not exist); the archive is complete at Finish.
Result<std::unique_ptr<CheckpointSink>> CreateNpzSink(const std::string& path);

}  // namespace ockpt::npz

#endif  // OCKPT_FORMATS_NPZ_NPZ_H_
