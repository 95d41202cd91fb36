// The text of `ockpt --version`: version, the git commit the build was
// configured from (when known) and the features compiled in. The values come
// from CMake (apps/ockpt/CMakeLists.txt) as definitions on this file only.

#include "apps/ockpt/version.h"

#include <fmt/format.h>

#ifndef OCKPT_GIT_COMMIT
#define OCKPT_GIT_COMMIT ""
#endif
#ifndef OCKPT_WITH_CUDA
#define OCKPT_WITH_CUDA 0
#endif
#ifndef OCKPT_CUDA_VERSION
#define OCKPT_CUDA_VERSION ""
#endif
#ifndef OCKPT_CODEC_VERSIONS
#define OCKPT_CODEC_VERSIONS "zstd, zlib, blosc, isa-l"
#endif

#include "lib/parallel/process_group.h"

namespace ockpt {

std::string VersionText() {
  std::string commit = OCKPT_GIT_COMMIT;
  std::string cuda = OCKPT_WITH_CUDA ? fmt::format("yes (CUDA {})", OCKPT_CUDA_VERSION) : "no";
  return fmt::format(
      "ockpt {}{}\n"
      "features: cuda staging: {}; mpi: {}; codecs: {}; formats: orbax (OCDBT, zarr v2/v3, msgpack), npy, npz, "
      "hdf5, safetensors",
      OCKPT_VERSION, commit.empty() ? "" : fmt::format(" (git {})", commit), cuda, MpiCompiledIn() ? "yes" : "no",
      OCKPT_CODEC_VERSIONS);
}

}  // namespace ockpt
