// The formats ockpt reads and writes, chosen by name or by file name:
//
//   npy          a directory of .npy files plus _tree.json (restore's default)
//   npz          a NumPy .npz archive                       (.npz)
//   h5           an HDF5 file                               (.h5, .hdf5)
//   safetensors  a safetensors file                         (.safetensors)
//
// and, as sources, Orbax checkpoints (items, checkpoints, manager roots).
// Also Convert, behind `ockpt convert`: any source to any output through the
// same streaming path as save and restore.

#ifndef OCKPT_FORMATS_REGISTRY_H_
#define OCKPT_FORMATS_REGISTRY_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/orbax/checkpoint_reader.h"
#include "formats/orbax/save.h"
#include "lib/base/context.h"
#include "lib/checkpoint/sink.h"
#include "lib/checkpoint/source.h"

namespace ockpt::formats {

// The output format for `path`: explicit_format when given ("npy", "npz",
// "h5" or "hdf5", "safetensors"; kInvalidArgument otherwise), else from the
// extension (.npz, .h5/.hdf5, .safetensors), else "npy". Returns the
// canonical name: "npy", "npz", "h5" or "safetensors".
Result<std::string> OutputFormat(const std::string& path, const std::string& explicit_format);

// The file format a path's extension names ("npz", "h5", "safetensors"), or
// "" for none.
std::string FormatFromExtension(const std::string& path);

// A sink writing `format` (a canonical name) to `path`, which must not exist
// (for "npy": a directory, created).
Result<std::unique_ptr<CheckpointSink>> CreateSink(const std::string& format,
                                                   const std::string& path);

// Opens any source: an .npz, .h5/.hdf5 or .safetensors file (by extension,
// else by its first bytes), a single .npy file (one leaf named after it), else orbax::OpenSource (a .npy directory or a
// checkpoint; `item` picks one of a composite; its arrays decode ahead on
// `threads` workers, 0 = all cores).
Result<std::unique_ptr<CheckpointSource>> OpenSource(const std::string& path,
                                                     const std::optional<std::string>& item = {},
                                                     int threads = 1);

// Writes the leaves of `source` whose dotted names match `select` (globs;
// empty = all) into sink: Begin, each leaf in order, Finish with the
// source's custom metadata. Arrays stream in pieces of at most a few MiB,
// cast to `dtype` when given (a warning when lossy).
Status CopyTree(const CheckpointSource& source, CheckpointSink& sink,
                const std::vector<std::string>& select, const std::optional<DType>& dtype,
                const Context& ctx);

struct ConvertOptions {
  std::string src;
  std::string dst;
  // "npy", "npz", "h5"/"hdf5", "safetensors", or "orbax"/"checkpoint"; empty:
  // from DST's extension, else a .npy directory when SRC is a checkpoint and
  // a checkpoint otherwise.
  std::string format;
  // For file and .npy outputs, as in `ockpt restore`: the step of SRC (a
  // manager root); for checkpoint outputs, as in `ockpt save`: the step to
  // write (DST is a manager root).
  std::optional<int64_t> step;
  std::optional<std::string> item;  // SRC's item (a composite checkpoint)
  std::vector<std::string> select;  // file and .npy outputs only
  std::optional<DType> dtype;       // file and .npy outputs only
  // Writing a checkpoint: as `ockpt save`.
  orbax::ArrayLayout layout;
  Json custom_metadata;
};

// Outputs are written under "<out>.ockpt-tmp-<pid>" and renamed at the end
// (by Convert and orbax::Restore); this puts `out` back in an error message
// that names the temporary path.
Status WithOutputName(Status status, const std::string& out);

// The output kind Convert picks: "npy", "npz", "h5", "safetensors" or "orbax".
Result<std::string> ConvertTarget(const ConvertOptions& options);

// Converts; DST must not exist (kAlreadyExists). File and directory outputs
// are written to a temporary sibling and renamed into place; checkpoints
// follow save's commit protocol.
Status Convert(const ConvertOptions& options, const Context& ctx);

}  // namespace ockpt::formats

#endif  // OCKPT_FORMATS_REGISTRY_H_
