// zarr v3 `zarr.json` parsing (docs: ocdbt-zarr-format.md §11).
//
// data_type: the names of lib/dtype ("int32", "bfloat16", "float8_e4m3fn",
// "int4", ...); r<bits> and extension types are kUnimplemented.
// chunk_grid: "regular". chunk_key_encoding: "default" (separator "/" unless
// configured) or "v2" (separator "." unless configured).
// codecs: transpose (order list, "C" or "F"), bytes (endian little/big),
// sharding_indexed (chunk_shape, codecs, index_codecs, index_location
// start|end; nested), zstd, gzip, blosc, crc32c. Anything else is
// kUnimplemented; a malformed chain is kDataLoss.
// fill_value: as in fill_value.h, including "0x7fc00001"-style raw bits.

#ifndef OCKPT_FORMATS_ZARR_METADATA_V3_H_
#define OCKPT_FORMATS_ZARR_METADATA_V3_H_

#include "formats/zarr/metadata.h"

namespace ockpt::zarr {

// Parses and validates `zarr.json` text of an array. A group's zarr.json is
// kInvalidArgument; malformed metadata kDataLoss; unsupported features
// kUnimplemented.
Result<ZarrMetadata> ParseZarrV3Metadata(ByteView text);

// Parses a v3 codec list for chunks of `chunk_shape` with elements of
// `element_size` bytes (exposed for tests).
Result<CodecChain> ParseZarrV3Codecs(const Json& codecs, const Shape& chunk_shape,
                                     size_t element_size);

}  // namespace ockpt::zarr

#endif  // OCKPT_FORMATS_ZARR_METADATA_V3_H_
