// zarr v2 `.zarray` parsing (docs: ocdbt-zarr-format.md §10).
//
//   {"chunks":[8],"compressor":{"id":"zstd","level":1},"dimension_separator":".",
//    "dtype":"<i4","fill_value":null,"filters":null,"order":"C","shape":[8],
//    "zarr_format":2}
//
// dtype: any NumPy typestr in either byte order ("|b1", ">i4", "<c16") or a
// TensorStore name ("bfloat16", "float8_e4m3fn", "int4"; one byte per
// element for the 4-bit types). compressor: null, zstd, zlib, gzip, blosc
// (bz2 and others: kUnimplemented). filters must be null or empty. order "C"
// or "F"; dimension_separator "." (default) or "/". Unknown members are
// ignored.

#ifndef OCKPT_FORMATS_ZARR_METADATA_V2_H_
#define OCKPT_FORMATS_ZARR_METADATA_V2_H_

#include "formats/zarr/metadata.h"

namespace ockpt::zarr {

// Parses and validates `.zarray` text. kDataLoss for malformed metadata,
// kUnimplemented for valid zarr we cannot read.
Result<ZarrMetadata> ParseZarrV2Metadata(ByteView text);

}  // namespace ockpt::zarr

#endif  // OCKPT_FORMATS_ZARR_METADATA_V2_H_
