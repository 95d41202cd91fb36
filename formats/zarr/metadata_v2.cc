// zarr v2 `.zarray` parsing.

#include "formats/zarr/metadata_v2.h"

#include "formats/zarr/fill_value.h"

namespace ockpt::zarr {
namespace {

using internal::IntMember;

const Json* Member(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

Result<std::optional<BytesCodec>> ParseCompressor(const Json* j) {
  if (j == nullptr || j->is_null()) return std::optional<BytesCodec>();
  if (!j->is_object()) return DataLossError("compressor is not an object: {}", j->dump());
  const Json* id = Member(*j, "id");
  if (id == nullptr || !id->is_string()) return DataLossError("compressor has no string 'id'");
  const std::string& name = id->get_ref<const std::string&>();
  BytesCodec c;
  if (name == "zstd") {
    c.kind = BytesCodec::Kind::kZstd;
    OCKPT_ASSIGN_OR_RETURN(int64_t level, IntMember(*j, "level", 1));
    c.level = static_cast<int>(level);
  } else if (name == "zlib" || name == "gzip") {
    c.kind = name == "zlib" ? BytesCodec::Kind::kZlib : BytesCodec::Kind::kGzip;
    OCKPT_ASSIGN_OR_RETURN(int64_t level, IntMember(*j, "level", 1));
    c.level = static_cast<int>(level);
  } else if (name == "blosc") {
    c.kind = BytesCodec::Kind::kBlosc;
    OCKPT_ASSIGN_OR_RETURN(int64_t clevel, IntMember(*j, "clevel", 5));
    c.level = static_cast<int>(clevel);
    const Json* cname = Member(*j, "cname");
    if (cname != nullptr && !cname->is_string()) {
      return DataLossError("blosc cname is not a string: {}", cname->dump());
    }
    c.blosc_cname = cname ? cname->get<std::string>() : "lz4";
  } else {
    return UnimplementedError("zarr compressor '{}' is not supported", name);
  }
  if (c.level < -1000 || c.level > 1000) {
    return DataLossError("compressor level {} is out of range", c.level);
  }
  return std::optional<BytesCodec>(c);
}

Result<ZarrMetadata> Parse(ByteView text) {
  OCKPT_ASSIGN_OR_RETURN(Json j, internal::ParseJsonText(text, ".zarray"));
  ZarrMetadata md;
  md.zarr_format = 2;
  if (const Json* f = Member(j, "zarr_format")) {
    if (!f->is_number_integer() || f->get<int64_t>() != 2) {
      return UnimplementedError("zarr_format {} in .zarray (expected 2)", f->dump());
    }
  }
  const Json* shape = Member(j, "shape");
  if (!shape) return DataLossError("missing 'shape'");
  OCKPT_ASSIGN_OR_RETURN(md.shape, internal::ParseShape(*shape, "shape"));
  const Json* chunks = Member(j, "chunks");
  if (!chunks) return DataLossError("missing 'chunks'");
  OCKPT_ASSIGN_OR_RETURN(md.chunk_shape, internal::ParseShape(*chunks, "chunks"));

  const Json* dtype = Member(j, "dtype");
  if (!dtype) return DataLossError("missing 'dtype'");
  if (dtype->is_array()) return UnimplementedError("structured dtype {}", dtype->dump());
  if (!dtype->is_string()) return DataLossError("dtype is not a string: {}", dtype->dump());
  OCKPT_ASSIGN_OR_RETURN(ParsedTypestr typestr,
                         DTypeFromTypestr(dtype->get_ref<const std::string&>()));
  md.dtype = typestr.dtype;
  md.codecs.big_endian = typestr.big_endian;

  bool fortran = false;
  if (const Json* order = Member(j, "order"); order && !order->is_null()) {
    if (*order == "F") {
      fortran = true;
    } else if (*order != "C") {
      return DataLossError("order {} is not \"C\" or \"F\"", order->dump());
    }
  }
  if (fortran && md.shape.size() > 1) {
    for (size_t d = md.shape.size(); d > 0; --d)
      md.codecs.permutation.push_back(static_cast<int>(d - 1));
  }

  md.key_encoding.v3_default = false;
  md.key_encoding.separator = '.';
  if (const Json* sep = Member(j, "dimension_separator"); sep && !sep->is_null()) {
    if (*sep == "/") {
      md.key_encoding.separator = '/';
    } else if (*sep != ".") {
      return DataLossError("dimension_separator {} is not \".\" or \"/\"", sep->dump());
    }
  }

  if (const Json* filters = Member(j, "filters"); filters && !filters->is_null()) {
    if (!filters->is_array()) return DataLossError("filters is not a list: {}", filters->dump());
    if (!filters->empty())
      return UnimplementedError("zarr filters are not supported: {}", filters->dump());
  }

  OCKPT_ASSIGN_OR_RETURN(std::optional<BytesCodec> compressor,
                         ParseCompressor(Member(j, "compressor")));
  if (compressor) md.codecs.bytes_codecs.push_back(*compressor);
  md.compressor = compressor ? compressor->Describe() : "none";

  const Json* fill = Member(j, "fill_value");
  OCKPT_ASSIGN_OR_RETURN(
      md.fill_value, ParseFillValue(fill ? *fill : Json(nullptr), md.dtype, 2, typestr.big_endian));
  OCKPT_RETURN_IF_ERROR(ValidateMetadata(md));
  return md;
}

}  // namespace

Result<ZarrMetadata> ParseZarrV2Metadata(ByteView text) {
  return Parse(text).WithContext(".zarray");
}

}  // namespace ockpt::zarr
