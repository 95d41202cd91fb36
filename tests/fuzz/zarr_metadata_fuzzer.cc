// Feeds the input to the zarr metadata parsers: as `.zarray` text
// (ParseZarrV2Metadata) and as `zarr.json` text (ParseZarrV3Metadata); when
// one parses, ChunkKey and ElementFormatOf run on the result.

#include <cstddef>
#include <cstdint>

#include "formats/zarr/metadata.h"
#include "formats/zarr/metadata_v2.h"
#include "formats/zarr/metadata_v3.h"

namespace {

void Use(const ockpt::Result<ockpt::zarr::ZarrMetadata>& md) {
  if (!md.ok()) return;
  ockpt::Shape index(md->shape.size(), 0);
  (void)ockpt::zarr::ChunkKey("a/", md->key_encoding, index);
  (void)ockpt::zarr::ElementFormatOf(*md);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  ByteView input(reinterpret_cast<const char*>(data), size);
  Use(zarr::ParseZarrV2Metadata(input));
  Use(zarr::ParseZarrV3Metadata(input));
  return 0;
}
