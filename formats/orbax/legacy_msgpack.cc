// Legacy msgpack aggregate decoding with msgpack-cxx (no exceptions escape).

#include "formats/orbax/legacy_msgpack.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>

#include <msgpack.hpp>

#include "formats/orbax/layout.h"

namespace ockpt::orbax {
namespace {

constexpr int kMaxDepth = 64;

// msgpack::unpack with every count bounded by the payload size (may throw;
// callers catch).
msgpack::object_handle SafeUnpack(std::string_view payload) {
  size_t n = payload.size();
  std::size_t off = 0;
  bool referenced = false;
  msgpack::unpack_limit limit(n, n, n, n, n, kMaxDepth);
  return msgpack::unpack(payload.data(), n, off, referenced, nullptr, nullptr, limit);
}

std::string_view StrOf(const msgpack::object& o) {
  if (o.type == msgpack::type::STR) return {o.via.str.ptr, o.via.str.size};
  if (o.type == msgpack::type::BIN) return {o.via.bin.ptr, o.via.bin.size};
  return {};
}

Result<DType> NumpyDTypeName(std::string_view name) {
  auto d = DTypeFromName(name);
  if (d.ok()) return d;
  auto t = DTypeFromTypestr(name);
  if (t.ok() && !t->big_endian) return t->dtype;
  return UnimplementedError("unsupported dtype '{}'", name);
}

Status DecodeNdarray(std::string_view payload, LegacyLeaf* leaf) {
  msgpack::object_handle oh;
  try {
    oh = SafeUnpack(payload);
  } catch (const std::exception& e) {
    return DataLossError("bad ndarray payload: {}", e.what());
  }
  const msgpack::object& o = oh.get();
  if (o.type != msgpack::type::ARRAY || o.via.array.size != 3) {
    return DataLossError("ndarray payload is not (shape, dtype, data)");
  }
  const msgpack::object& shape = o.via.array.ptr[0];
  if (shape.type != msgpack::type::ARRAY) return DataLossError("ndarray shape is not a list");
  int64_t count = 1;
  for (uint32_t i = 0; i < shape.via.array.size; ++i) {
    const msgpack::object& d = shape.via.array.ptr[i];
    if (d.type != msgpack::type::POSITIVE_INTEGER || d.via.u64 > (uint64_t{1} << 40)) {
      return DataLossError("ndarray shape holds a bad dimension");
    }
    leaf->shape.push_back(static_cast<int64_t>(d.via.u64));
    count *= static_cast<int64_t>(d.via.u64);
    if (count > (int64_t{1} << 40)) return DataLossError("ndarray too large");
  }
  OCKPT_ASSIGN_OR_RETURN(leaf->dtype, NumpyDTypeName(StrOf(o.via.array.ptr[1])));
  std::string_view data = StrOf(o.via.array.ptr[2]);
  uint64_t want = static_cast<uint64_t>(count) * SizeOf(leaf->dtype);
  if (data.size() != want) {
    return DataLossError("ndarray data is {} bytes, shape and dtype need {}", data.size(), want);
  }
  leaf->kind = LegacyLeaf::Kind::kInlineArray;
  leaf->data.assign(data);
  return Status::Ok();
}

std::string KeyString(const msgpack::object& k) {
  switch (k.type) {
    case msgpack::type::STR:
    case msgpack::type::BIN:
      return std::string(StrOf(k));
    case msgpack::type::POSITIVE_INTEGER:
      return std::to_string(k.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return std::to_string(k.via.i64);
    default:
      return "?";
  }
}

// Builds a .zarray from a t5x TensorStore spec dict, or returns false.
bool ZarrSpec(const msgpack::object& o, LegacyLeaf* leaf) {
  try {
    msgpack::object_handle dummy;
    Json spec = Json::object();
    std::map<std::string, msgpack::object> m;
    o.convert(m);
    if (!m.count("driver") || KeyString(m["driver"]) != "zarr" || !m.count("kvstore") ||
        !m.count("metadata")) {
      return false;
    }
    std::map<std::string, msgpack::object> kv, md;
    m["kvstore"].convert(kv);
    m["metadata"].convert(md);
    if (!kv.count("path")) return false;
    std::string path = KeyString(kv["path"]);
    if (!path.empty() && path.back() != '/') path.push_back('/');
    std::string dtype = m.count("dtype") ? KeyString(m["dtype"]) : "";
    if (md.count("dtype")) dtype = KeyString(md["dtype"]);
    auto d = NumpyDTypeName(dtype);
    if (!d.ok()) return false;
    std::vector<int64_t> shape, chunks;
    md["shape"].convert(shape);
    md["chunks"].convert(chunks);
    Json z = Json::object();
    z["chunks"] = chunks;
    z["compressor"] = nullptr;
    if (md.count("compressor") && md["compressor"].type == msgpack::type::MAP) {
      std::map<std::string, msgpack::object> c;
      md["compressor"].convert(c);
      Json cj = Json::object();
      for (auto& [k, v] : c) {
        if (v.type == msgpack::type::POSITIVE_INTEGER) cj[k] = v.via.u64;
        else if (v.type == msgpack::type::NEGATIVE_INTEGER) cj[k] = v.via.i64;
        else cj[k] = KeyString(v);
      }
      z["compressor"] = cj;
    }
    z["dtype"] = Typestr(*d);
    z["fill_value"] = nullptr;
    z["filters"] = nullptr;
    z["order"] = "C";
    z["shape"] = shape;
    z["zarr_format"] = 2;
    leaf->kind = LegacyLeaf::Kind::kZarrSpec;
    leaf->zarr_path = path;
    leaf->zarray_json = z.dump();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// The value under `key` in a msgpack map, or nullptr.
const msgpack::object* MapGet(const msgpack::object& map, std::string_view key) {
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& kv = map.via.map.ptr[i];
    if ((kv.key.type == msgpack::type::STR || kv.key.type == msgpack::type::BIN) && StrOf(kv.key) == key) {
      return &kv.val;
    }
  }
  return nullptr;
}

// The i-th entry of a flax "tuple as dict" ({"0": ..., "1": ...}), or nullptr.
const msgpack::object* TupleDictGet(const msgpack::object& map, uint32_t i) {
  return MapGet(map, std::to_string(i));
}

// A flax chunked array: {"__msgpack_chunked_array__": true, "shape": {"0": d0, ...},
// "chunks": {"0": ndarray, ...}}, where the chunks are the flattened array cut
// into pieces (flax splits arrays above 1 GiB this way). Joined into one
// inline array.
Status DecodeChunkedArray(const msgpack::object& o, LegacyLeaf* leaf) {
  const msgpack::object* shape = MapGet(o, "shape");
  const msgpack::object* chunks = MapGet(o, "chunks");
  if (!shape || !chunks || shape->type != msgpack::type::MAP || chunks->type != msgpack::type::MAP) {
    return DataLossError("chunked array without 'shape' and 'chunks' maps");
  }
  Shape dims;
  uint64_t count = 1;
  for (uint32_t i = 0; i < shape->via.map.size; ++i) {
    const msgpack::object* d = TupleDictGet(*shape, i);
    if (!d || d->type != msgpack::type::POSITIVE_INTEGER || d->via.u64 > (uint64_t{1} << 40)) {
      return DataLossError("chunked array shape entry {} is missing or bad", i);
    }
    dims.push_back(static_cast<int64_t>(d->via.u64));
    count *= d->via.u64;
    if (count > (uint64_t{1} << 40)) return DataLossError("chunked array too large");
  }
  leaf->shape = dims;
  std::optional<DType> dtype;
  uint64_t want = 0;
  for (uint32_t i = 0; i < chunks->via.map.size; ++i) {
    const msgpack::object* c = TupleDictGet(*chunks, i);
    if (!c || c->type != msgpack::type::EXT || c->via.ext.type() != 1) {
      return DataLossError("chunk {} of a chunked array is missing or not an ndarray", i);
    }
    LegacyLeaf piece;
    OCKPT_RETURN_IF_ERROR(DecodeNdarray(std::string_view(c->via.ext.data(), c->via.ext.size), &piece)
                              .WithContext(fmt::format("chunk {}", i)));
    if (piece.shape.size() != 1) return DataLossError("chunk {} of a chunked array is not flat", i);
    if (!dtype) {
      dtype = piece.dtype;
      want = count * SizeOf(*dtype);
    } else if (*dtype != piece.dtype) {
      return DataLossError("chunks of a chunked array have different dtypes");
    }
    if (leaf->data.size() + piece.data.size() > want) {
      return DataLossError("chunks of a chunked array hold more than its shape");
    }
    leaf->data.append(piece.data);
  }
  if (!dtype) return DataLossError("chunked array without chunks");
  if (leaf->data.size() != want) {
    return DataLossError("chunks of a chunked array hold {} bytes, its shape needs {}", leaf->data.size(), want);
  }
  leaf->dtype = *dtype;
  leaf->kind = LegacyLeaf::Kind::kInlineArray;
  return Status::Ok();
}

Status Walk(const msgpack::object& o, KeyPath& path, int depth, std::vector<LegacyLeaf>* out) {
  if (depth > kMaxDepth) return DataLossError("msgpack tree nested deeper than {}", kMaxDepth);
  LegacyLeaf leaf;
  leaf.keypath = path;
  switch (o.type) {
    case msgpack::type::MAP: {
      if (ZarrSpec(o, &leaf)) break;
      if (o.via.map.size == 0) {
        leaf.kind = LegacyLeaf::Kind::kEmptyDict;
        break;
      }
      if (MapGet(o, "__msgpack_chunked_array__")) {
        OCKPT_RETURN_IF_ERROR(DecodeChunkedArray(o, &leaf).WithContext(DottedName(path)));
        break;
      }
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        std::string key = KeyString(kv.key);
        path.push_back({key, KeyType::kDict});
        OCKPT_RETURN_IF_ERROR(Walk(kv.val, path, depth + 1, out));
        path.pop_back();
      }
      return Status::Ok();
    }
    case msgpack::type::ARRAY: {
      if (o.via.array.size == 0) {
        leaf.kind = LegacyLeaf::Kind::kEmptyList;
        break;
      }
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        path.push_back({std::to_string(i), KeyType::kSequence});
        OCKPT_RETURN_IF_ERROR(Walk(o.via.array.ptr[i], path, depth + 1, out));
        path.pop_back();
      }
      return Status::Ok();
    }
    case msgpack::type::EXT: {
      int8_t type = o.via.ext.type();
      std::string_view payload(o.via.ext.data(), o.via.ext.size);
      if (type == 1 || type == 3) {
        OCKPT_RETURN_IF_ERROR(DecodeNdarray(payload, &leaf));
      } else if (type == 2) {
        msgpack::object_handle oh;
        try {
          oh = SafeUnpack(payload);
          double re = 0, im = 0;
          auto t = oh.get().as<std::tuple<double, double>>();
          re = std::get<0>(t);
          im = std::get<1>(t);
          leaf.kind = LegacyLeaf::Kind::kInlineArray;
          leaf.dtype = DType::kComplex128;
          leaf.data.resize(16);
          std::memcpy(leaf.data.data(), &re, 8);
          std::memcpy(leaf.data.data() + 8, &im, 8);
        } catch (const std::exception& e) {
          return DataLossError("bad complex value: {}", e.what());
        }
      } else if (type == 4) {
        msgpack::object_handle oh;
        try {
          oh = SafeUnpack(payload);
        } catch (const std::exception& e) {
          return DataLossError("bad tuple value: {}", e.what());
        }
        return Walk(oh.get(), path, depth + 1, out);
      } else {
        return UnimplementedError("unknown msgpack extension type {}", type);
      }
      break;
    }
    case msgpack::type::STR:
    case msgpack::type::BIN: {
      std::string_view s = StrOf(o);
      if (s.substr(0, kPlaceholderPrefix.size()) == kPlaceholderPrefix ||
          s.substr(0, 13) == "AGGREGATED://") {
        std::string_view name = s.substr(s.find("://") + 3);
        leaf.kind = LegacyLeaf::Kind::kPlaceholder;
        leaf.zarr_path = name.empty() ? "" : std::string(name) + "/";
      } else {
        leaf.kind = LegacyLeaf::Kind::kString;
        leaf.text = std::string(s);
      }
      break;
    }
    case msgpack::type::NIL:
      leaf.kind = LegacyLeaf::Kind::kNone;
      break;
    case msgpack::type::BOOLEAN:
      leaf.kind = LegacyLeaf::Kind::kInlineArray;
      leaf.dtype = DType::kBool;
      leaf.data.assign(1, o.via.boolean ? '\1' : '\0');
      break;
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER: {
      // Python ints above 2^63 - 1 come as msgpack uint64.
      bool big = o.type == msgpack::type::POSITIVE_INTEGER && o.via.u64 > uint64_t{INT64_MAX};
      int64_t v = o.type == msgpack::type::POSITIVE_INTEGER ? static_cast<int64_t>(o.via.u64) : o.via.i64;
      leaf.kind = LegacyLeaf::Kind::kInlineArray;
      leaf.dtype = big ? DType::kUInt64 : DType::kInt64;
      leaf.data.resize(8);
      StoreU64LE(leaf.data.data(), static_cast<uint64_t>(v));
      break;
    }
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: {
      double v = o.via.f64;
      leaf.kind = LegacyLeaf::Kind::kInlineArray;
      leaf.dtype = DType::kFloat64;
      leaf.data.resize(8);
      std::memcpy(leaf.data.data(), &v, 8);
      break;
    }
  }
  out->push_back(std::move(leaf));
  return Status::Ok();
}

}  // namespace

Result<std::vector<LegacyLeaf>> DecodeLegacyMsgpack(ByteView data) {
  msgpack::object_handle oh;
  try {
    std::size_t off = 0;
    bool referenced = false;
    // Every count is bounded by the bytes present, so a hostile header
    // cannot make the unpacker reserve more than the file could hold.
    size_t n = data.size();
    msgpack::unpack_limit limit(n, n, n, n, n, kMaxDepth);
    oh = msgpack::unpack(data.data(), data.size(), off, referenced, nullptr, nullptr, limit);
    if (off != data.size()) return DataLossError("trailing bytes after the msgpack tree");
  } catch (const std::exception& e) {
    return DataLossError("not a msgpack tree: {}", e.what());
  }
  std::vector<LegacyLeaf> leaves;
  KeyPath path;
  OCKPT_RETURN_IF_ERROR(Walk(oh.get(), path, 0, &leaves));
  return leaves;
}

}  // namespace ockpt::orbax
