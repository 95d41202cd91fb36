// zarr v3 `zarr.json` parsing.

#include "formats/zarr/metadata_v3.h"

#include <numeric>

#include "formats/zarr/fill_value.h"

namespace ockpt::zarr {
namespace {

using internal::IntMember;

constexpr int kMaxCodecDepth = 4;

Json BytesLittle() { return Json{{"name", "bytes"}, {"configuration", {{"endian", "little"}}}}; }
Json DefaultIndexCodecs() {
  Json list = Json::array();
  list.push_back(BytesLittle());
  list.push_back(Json{{"name", "crc32c"}});
  return list;
}
Json DefaultCodecs() {
  Json list = Json::array();
  list.push_back(BytesLittle());
  return list;
}

const Json* Member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// {"name": ..., "configuration": {...}} (or a bare name string).
struct NamedConfig {
  std::string name;
  Json configuration = Json::object();
};

Result<NamedConfig> ParseNamed(const Json& j, std::string_view what) {
  NamedConfig n;
  if (j.is_string()) {
    n.name = j.get<std::string>();
    return n;
  }
  if (!j.is_object()) return DataLossError("{} is not an object: {}", what, j.dump());
  const Json* name = Member(j, "name");
  if (!name || !name->is_string()) return DataLossError("{} has no string 'name'", what);
  n.name = name->get<std::string>();
  if (const Json* c = Member(j, "configuration"); c && !c->is_null()) {
    if (!c->is_object()) return DataLossError("{} configuration is not an object", what);
    n.configuration = *c;
  }
  return n;
}

Result<int> LevelMember(const Json& config, const char* key, int default_value) {
  OCKPT_ASSIGN_OR_RETURN(int64_t level, IntMember(config, key, default_value));
  if (level < -1000 || level > 1000) return DataLossError("{} {} is out of range", key, level);
  return static_cast<int>(level);
}

Result<std::vector<int>> ParseTransposeOrder(const Json& order, size_t rank) {
  std::vector<int> perm(rank);
  if (order.is_string()) {
    if (order == "C") {
      std::iota(perm.begin(), perm.end(), 0);
    } else if (order == "F") {
      for (size_t i = 0; i < rank; ++i) perm[i] = static_cast<int>(rank - 1 - i);
    } else {
      return DataLossError("transpose order {} is not \"C\", \"F\" or a list", order.dump());
    }
    return perm;
  }
  if (!order.is_array() || order.size() != rank) {
    return DataLossError("transpose order {} is not a list of {} dimensions", order.dump(), rank);
  }
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < rank; ++i) {
    const Json& o = order[i];
    if (!o.is_number_integer() || o.get<int64_t>() < 0 ||
        o.get<int64_t>() >= static_cast<int64_t>(rank) || seen[o.get<size_t>()]) {
      return DataLossError("transpose order {} is not a permutation", order.dump());
    }
    seen[o.get<size_t>()] = true;
    perm[i] = o.get<int>();
  }
  return perm;
}

Result<CodecChain> ParseCodecs(const Json& codecs, const Shape& chunk_shape, size_t element_size,
                               int depth);

Result<std::shared_ptr<const ShardingCodec>> ParseSharding(const Json& config,
                                                           const Shape& shard_shape,
                                                           size_t element_size, int depth) {
  if (depth >= kMaxCodecDepth) {
    return UnimplementedError("sharding_indexed nested more than {} deep", kMaxCodecDepth);
  }
  auto sh = std::make_shared<ShardingCodec>();
  const Json* cs = Member(config, "chunk_shape");
  if (!cs) return DataLossError("sharding_indexed has no chunk_shape");
  OCKPT_ASSIGN_OR_RETURN(sh->inner_chunk_shape, internal::ParseShape(*cs, "sharding chunk_shape"));
  if (sh->inner_chunk_shape.size() != shard_shape.size()) {
    return DataLossError("sharding chunk_shape {} has the wrong rank for shard shape {}",
                         ShapeString(sh->inner_chunk_shape), ShapeString(shard_shape));
  }
  Shape index_shape;
  for (size_t d = 0; d < shard_shape.size(); ++d) {
    if (sh->inner_chunk_shape[d] <= 0 || shard_shape[d] % sh->inner_chunk_shape[d] != 0) {
      return DataLossError("sharding chunk_shape {} does not divide shard shape {}",
                           ShapeString(sh->inner_chunk_shape), ShapeString(shard_shape));
    }
    index_shape.push_back(shard_shape[d] / sh->inner_chunk_shape[d]);
  }
  index_shape.push_back(2);
  const Json* inner = Member(config, "codecs");
  auto inner_chain =
      ParseCodecs(inner ? *inner : DefaultCodecs(), sh->inner_chunk_shape, element_size, depth + 1);
  if (!inner_chain.ok()) return inner_chain.status().WithContext("sharding_indexed codecs");
  sh->codecs = std::move(inner_chain).value();
  const Json* index = Member(config, "index_codecs");
  auto index_chain = ParseCodecs(index ? *index : DefaultIndexCodecs(), index_shape, 8, depth + 1);
  if (!index_chain.ok()) return index_chain.status().WithContext("sharding_indexed index_codecs");
  sh->index_codecs = std::move(index_chain).value();
  if (const Json* loc = Member(config, "index_location"); loc && !loc->is_null()) {
    if (*loc == "start") {
      sh->index_at_end = false;
    } else if (*loc != "end") {
      return DataLossError("index_location {} is not \"start\" or \"end\"", loc->dump());
    }
  }
  return std::shared_ptr<const ShardingCodec>(std::move(sh));
}

Result<CodecChain> ParseCodecs(const Json& codecs, const Shape& chunk_shape, size_t element_size,
                               int depth) {
  if (!codecs.is_array()) return DataLossError("codecs is not a list: {}", codecs.dump());
  const size_t rank = chunk_shape.size();
  CodecChain chain;
  std::vector<int> perm(rank);
  std::iota(perm.begin(), perm.end(), 0);
  Shape shape = chunk_shape;  // as the next codec sees it
  bool have_array_to_bytes = false;
  for (const Json& cj : codecs) {
    OCKPT_ASSIGN_OR_RETURN(NamedConfig c, ParseNamed(cj, "codec"));
    const Json& config = c.configuration;
    if (c.name == "transpose") {
      if (have_array_to_bytes) return DataLossError("transpose after the array->bytes codec");
      const Json* order = Member(config, "order");
      if (!order) return DataLossError("transpose has no order");
      OCKPT_ASSIGN_OR_RETURN(std::vector<int> o, ParseTransposeOrder(*order, rank));
      std::vector<int> composed(rank);
      Shape next(rank);
      for (size_t i = 0; i < rank; ++i) {
        composed[i] = perm[static_cast<size_t>(o[i])];
        next[i] = shape[static_cast<size_t>(o[i])];
      }
      perm = std::move(composed);
      shape = std::move(next);
    } else if (c.name == "bytes" || c.name == "sharding_indexed") {
      if (have_array_to_bytes) return DataLossError("more than one array->bytes codec");
      have_array_to_bytes = true;
      if (c.name == "bytes") {
        const Json* endian = Member(config, "endian");
        if (endian && !endian->is_null()) {
          if (*endian == "big") {
            chain.big_endian = element_size > 1;
          } else if (*endian != "little") {
            return DataLossError("bytes endian {} is not \"little\" or \"big\"", endian->dump());
          }
        } else if (element_size > 1) {
          return DataLossError("bytes codec needs an endian for {}-byte elements", element_size);
        }
      } else {
        OCKPT_ASSIGN_OR_RETURN(chain.sharding, ParseSharding(config, shape, element_size, depth));
      }
    } else if (c.name == "zstd" || c.name == "gzip" || c.name == "blosc" || c.name == "crc32c") {
      if (!have_array_to_bytes) {
        return DataLossError("bytes->bytes codec '{}' before the array->bytes codec", c.name);
      }
      BytesCodec b;
      if (c.name == "zstd") {
        b.kind = BytesCodec::Kind::kZstd;
        OCKPT_ASSIGN_OR_RETURN(b.level, LevelMember(config, "level", 3));
      } else if (c.name == "gzip") {
        b.kind = BytesCodec::Kind::kGzip;
        OCKPT_ASSIGN_OR_RETURN(b.level, LevelMember(config, "level", 6));
      } else if (c.name == "blosc") {
        b.kind = BytesCodec::Kind::kBlosc;
        OCKPT_ASSIGN_OR_RETURN(b.level, LevelMember(config, "clevel", 5));
        const Json* cname = Member(config, "cname");
        if (cname && !cname->is_string()) return DataLossError("blosc cname is not a string");
        b.blosc_cname = cname ? cname->get<std::string>() : "lz4";
      } else {
        b.kind = BytesCodec::Kind::kCrc32c;
      }
      chain.bytes_codecs.push_back(std::move(b));
    } else {
      return UnimplementedError("zarr3 codec '{}' is not supported", c.name);
    }
  }
  if (!have_array_to_bytes) return DataLossError("codecs have no array->bytes codec");
  bool identity = true;
  for (size_t i = 0; i < rank; ++i) identity &= perm[i] == static_cast<int>(i);
  if (!identity) chain.permutation = std::move(perm);
  return chain;
}

Result<ZarrMetadata> Parse(ByteView text) {
  OCKPT_ASSIGN_OR_RETURN(Json j, internal::ParseJsonText(text, "zarr.json"));
  const Json* format = Member(j, "zarr_format");
  if (!format) return DataLossError("missing 'zarr_format'");
  if (!format->is_number_integer() || format->get<int64_t>() != 3) {
    return UnimplementedError("zarr_format {} (expected 3)", format->dump());
  }
  const Json* node_type = Member(j, "node_type");
  if (node_type && *node_type == "group") return InvalidArgumentError("a zarr group, not an array");
  if (!node_type || *node_type != "array") return DataLossError("node_type is not \"array\"");
  ZarrMetadata md;
  md.zarr_format = 3;
  const Json* shape = Member(j, "shape");
  if (!shape) return DataLossError("missing 'shape'");
  OCKPT_ASSIGN_OR_RETURN(md.shape, internal::ParseShape(*shape, "shape"));

  const Json* data_type = Member(j, "data_type");
  if (!data_type) return DataLossError("missing 'data_type'");
  if (!data_type->is_string()) return UnimplementedError("data_type {}", data_type->dump());
  OCKPT_ASSIGN_OR_RETURN(md.dtype, DTypeFromName(data_type->get_ref<const std::string&>()));

  const Json* grid = Member(j, "chunk_grid");
  if (!grid) return DataLossError("missing 'chunk_grid'");
  OCKPT_ASSIGN_OR_RETURN(NamedConfig g, ParseNamed(*grid, "chunk_grid"));
  if (g.name != "regular") return UnimplementedError("chunk_grid '{}' is not supported", g.name);
  const Json* cs = Member(g.configuration, "chunk_shape");
  if (!cs) return DataLossError("chunk_grid has no chunk_shape");
  OCKPT_ASSIGN_OR_RETURN(md.chunk_shape, internal::ParseShape(*cs, "chunk_shape"));
  if (md.chunk_shape.size() != md.shape.size()) {
    return DataLossError("chunk_shape {} does not match the rank of shape {}",
                         ShapeString(md.chunk_shape), ShapeString(md.shape));
  }
  for (int64_t c : md.chunk_shape) {
    if (c <= 0)
      return DataLossError("chunk_shape {} has a dimension < 1", ShapeString(md.chunk_shape));
  }

  md.key_encoding = {true, '/'};
  if (const Json* kenc = Member(j, "chunk_key_encoding")) {
    OCKPT_ASSIGN_OR_RETURN(NamedConfig k, ParseNamed(*kenc, "chunk_key_encoding"));
    if (k.name == "v2") {
      md.key_encoding = {false, '.'};
    } else if (k.name != "default") {
      return UnimplementedError("chunk_key_encoding '{}' is not supported", k.name);
    }
    if (const Json* sep = Member(k.configuration, "separator"); sep && !sep->is_null()) {
      if (*sep == "/") {
        md.key_encoding.separator = '/';
      } else if (*sep == ".") {
        md.key_encoding.separator = '.';
      } else {
        return DataLossError("chunk key separator {} is not \".\" or \"/\"", sep->dump());
      }
    }
  }

  if (const Json* st = Member(j, "storage_transformers"); st && !st->is_null()) {
    if (!st->is_array()) return DataLossError("storage_transformers is not a list");
    if (!st->empty()) return UnimplementedError("storage_transformers are not supported");
  }

  const Json* codecs = Member(j, "codecs");
  auto chain = ParseCodecs(codecs ? *codecs : DefaultCodecs(), md.chunk_shape, SizeOf(md.dtype), 0);
  if (!chain.ok()) return chain.status();
  md.codecs = std::move(chain).value();
  md.compressor = md.codecs.DescribeCompressor();

  const Json* fill = Member(j, "fill_value");
  if (!fill) return DataLossError("missing 'fill_value'");
  OCKPT_ASSIGN_OR_RETURN(md.fill_value, ParseFillValue(*fill, md.dtype, 3));
  OCKPT_RETURN_IF_ERROR(ValidateMetadata(md));
  return md;
}

}  // namespace

Result<CodecChain> ParseZarrV3Codecs(const Json& codecs, const Shape& chunk_shape,
                                     size_t element_size) {
  return ParseCodecs(codecs, chunk_shape, element_size, 0);
}

Result<ZarrMetadata> ParseZarrV3Metadata(ByteView text) {
  return Parse(text).WithContext("zarr.json");
}

}  // namespace ockpt::zarr
