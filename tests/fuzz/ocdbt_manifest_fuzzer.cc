// Feeds the input to the OCDBT manifest decoders: as a body
// (DecodeManifestBody) and, with its envelope length and CRC-32C repaired, as
// a whole manifest blob (DecodeManifest). Also ParseNumberedManifestName.

#include <cstddef>
#include <cstdint>

#include "formats/ocdbt/format/manifest.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  ByteView input(reinterpret_cast<const char*>(data), size);
  (void)ocdbt::DecodeManifestBody(input);
  Bytes blob(input);
  fuzz::RepairEnvelope(blob.data(), blob.size());
  auto m = ocdbt::DecodeManifest(blob);
  if (m.ok()) (void)ocdbt::EncodeManifest(*m);
  (void)ocdbt::ParseNumberedManifestName(input);
  return 0;
}
