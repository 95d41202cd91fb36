// zarr fill_value parsing.

#include "formats/zarr/fill_value.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "formats/zarr/chunk_layout.h"

namespace ockpt::zarr {
namespace {

// How a small float type spends its special encodings.
enum class Specials {
  kIeee,  // exponent all ones: infinity (mantissa 0) or NaN
  kFn,    // finite; only all-ones exponent and mantissa is NaN
  kFnuz,  // finite, no negative zero; the negative-zero pattern is NaN
  kNone,  // finite only (float4_e2m1fn)
  kE8M0,  // unsigned powers of two; 0xff is NaN
};

struct SmallFloat {
  int ebits;
  int mbits;
  int bias;
  Specials specials;
};

Result<SmallFloat> SmallFloatFormat(DType dtype) {
  switch (dtype) {
    case DType::kFloat16:
      return SmallFloat{5, 10, 15, Specials::kIeee};
    case DType::kBFloat16:
      return SmallFloat{8, 7, 127, Specials::kIeee};
    case DType::kFloat8E4M3FN:
      return SmallFloat{4, 3, 7, Specials::kFn};
    case DType::kFloat8E4M3FNUZ:
      return SmallFloat{4, 3, 8, Specials::kFnuz};
    case DType::kFloat8E4M3B11FNUZ:
      return SmallFloat{4, 3, 11, Specials::kFnuz};
    case DType::kFloat8E5M2:
      return SmallFloat{5, 2, 15, Specials::kIeee};
    case DType::kFloat8E5M2FNUZ:
      return SmallFloat{5, 2, 16, Specials::kFnuz};
    case DType::kFloat8E3M4:
      return SmallFloat{3, 4, 3, Specials::kIeee};
    case DType::kFloat8E8M0FNU:
      return SmallFloat{8, 0, 127, Specials::kE8M0};
    case DType::kFloat4E2M1FN:
      return SmallFloat{2, 1, 1, Specials::kNone};
    default:
      return InternalError("{} is not a small float type", Name(dtype));
  }
}

int ValueBits(const SmallFloat& f) { return f.ebits + f.mbits; }

double Decode(const SmallFloat& f, uint32_t bits) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (f.specials == Specials::kE8M0) {
    if (bits == 0xff) return nan;
    return std::ldexp(1.0, static_cast<int>(bits) - f.bias);
  }
  const int total = ValueBits(f);
  const bool sign = (bits >> total) & 1;
  const uint32_t emax = (1u << f.ebits) - 1;
  const uint32_t mmax = (1u << f.mbits) - 1;
  const uint32_t e = (bits >> f.mbits) & emax;
  const uint32_t m = bits & mmax;
  switch (f.specials) {
    case Specials::kIeee:
      if (e == emax) {
        if (m != 0) return nan;
        return sign ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
      }
      break;
    case Specials::kFn:
      if (e == emax && m == mmax) return nan;
      break;
    case Specials::kFnuz:
      if (sign && e == 0 && m == 0) return nan;
      break;
    default:
      break;
  }
  double v = e == 0 ? std::ldexp(static_cast<double>(m), 1 - f.bias - f.mbits)
                    : std::ldexp(static_cast<double>((1u << f.mbits) + m),
                                 static_cast<int>(e) - f.bias - f.mbits);
  return sign ? -v : v;
}

std::optional<uint32_t> NanBits(const SmallFloat& f) {
  const int total = ValueBits(f);
  switch (f.specials) {
    case Specials::kIeee:
      return (((1u << f.ebits) - 1) << f.mbits) | (1u << (f.mbits - 1));
    case Specials::kFn:
      return (1u << total) - 1;
    case Specials::kFnuz:
      return 1u << total;
    case Specials::kE8M0:
      return 0xffu;
    case Specials::kNone:
      return std::nullopt;
  }
  return std::nullopt;
}

// Special strings shared by v2 and v3.
std::optional<double> NamedFloat(std::string_view s) {
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "Infinity") return std::numeric_limits<double>::infinity();
  if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  return std::nullopt;
}

void PutLE(Bytes* out, uint64_t v, size_t size) {
  for (size_t i = 0; i < size; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

Result<uint64_t> ParseHexBits(std::string_view s, size_t size) {
  std::string_view digits = s.substr(2);
  if (digits.empty() || digits.size() > 2 * size) {
    return DataLossError("fill_value '{}' is not {} hex digits", s, 2 * size);
  }
  uint64_t v = 0;
  for (char c : digits) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return DataLossError("fill_value '{}' is not hex", s);
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

// One float (or complex component) of type `dtype` appended to out.
Status AppendFloat(const Json& j, DType dtype, int zarr_format, Bytes* out) {
  const size_t size = SizeOf(dtype);
  double v;
  if (j.is_number()) {
    v = j.get<double>();
  } else if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (auto named = NamedFloat(s)) {
      v = *named;
    } else if (zarr_format == 3 && s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      OCKPT_ASSIGN_OR_RETURN(uint64_t bits, ParseHexBits(s, size));
      PutLE(out, bits, size);
      return Status::Ok();
    } else {
      return DataLossError("fill_value '{}' is not a number for {}", s, Name(dtype));
    }
  } else {
    return DataLossError("fill_value {} is not a number for {}", j.dump(), Name(dtype));
  }
  switch (dtype) {
    case DType::kFloat32: {
      float f = static_cast<float>(v);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      if (std::isnan(v)) bits = 0x7fc00000u;
      PutLE(out, bits, 4);
      return Status::Ok();
    }
    case DType::kFloat64: {
      uint64_t bits;
      std::memcpy(&bits, &v, 8);
      if (std::isnan(v)) bits = 0x7ff8000000000000ull;
      PutLE(out, bits, 8);
      return Status::Ok();
    }
    default: {
      OCKPT_ASSIGN_OR_RETURN(uint16_t bits, EncodeSmallFloat(v, dtype));
      PutLE(out, bits, size);
      return Status::Ok();
    }
  }
}

Result<int64_t> IntegralValue(const Json& j, DType dtype, int64_t lo, uint64_t hi,
                              bool* is_unsigned_big, uint64_t* big) {
  *is_unsigned_big = false;
  if (j.is_boolean()) return j.get<bool>() ? 1 : 0;
  if (j.is_number_unsigned()) {
    uint64_t u = j.get<uint64_t>();
    if (u > hi) return DataLossError("fill_value {} is out of range for {}", u, Name(dtype));
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      *is_unsigned_big = true;
      *big = u;
      return 0;
    }
    return static_cast<int64_t>(u);
  }
  if (j.is_number_integer()) {
    int64_t s = j.get<int64_t>();
    if (s < lo || (s >= 0 && static_cast<uint64_t>(s) > hi)) {
      return DataLossError("fill_value {} is out of range for {}", s, Name(dtype));
    }
    return s;
  }
  if (j.is_number_float()) {
    double d = j.get<double>();
    if (!(d == std::floor(d)) || d < static_cast<double>(lo) || d > static_cast<double>(hi) ||
        std::fabs(d) >= 9.2e18) {
      return DataLossError("fill_value {} is not a valid {}", j.dump(), Name(dtype));
    }
    return static_cast<int64_t>(d);
  }
  return DataLossError("fill_value {} is not an integer for {}", j.dump(), Name(dtype));
}

Result<Bytes> ParseTyped(const Json& j, DType dtype, int zarr_format) {
  const DTypeInfo& info = Info(dtype);
  Bytes out;
  switch (info.kind) {
    case DTypeKind::kBool: {
      if (j.is_boolean()) return Bytes(1, j.get<bool>() ? '\1' : '\0');
      if (j.is_number()) {
        double d = j.get<double>();
        if (d == 0 || d == 1) return Bytes(1, d == 1 ? '\1' : '\0');
      }
      return DataLossError("fill_value {} is not a bool", j.dump());
    }
    case DTypeKind::kInt:
    case DTypeKind::kUInt: {
      int64_t lo = 0;
      uint64_t hi = 0;
      const bool is_signed = info.kind == DTypeKind::kInt;
      switch (dtype) {
        case DType::kInt2:
          lo = -2;
          hi = 1;
          break;
        case DType::kUInt2:
          hi = 3;
          break;
        case DType::kInt4:
          lo = -8;
          hi = 7;
          break;
        case DType::kUInt4:
          hi = 15;
          break;
        default: {
          const int bits = static_cast<int>(info.size * 8);
          if (is_signed) {
            lo = bits == 64 ? std::numeric_limits<int64_t>::min() : -(int64_t{1} << (bits - 1));
            hi = bits == 64 ? static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                            : (uint64_t{1} << (bits - 1)) - 1;
          } else {
            hi = bits == 64 ? std::numeric_limits<uint64_t>::max() : (uint64_t{1} << bits) - 1;
          }
        }
      }
      bool big_unsigned = false;
      uint64_t big = 0;
      OCKPT_ASSIGN_OR_RETURN(int64_t v, IntegralValue(j, dtype, lo, hi, &big_unsigned, &big));
      PutLE(&out, big_unsigned ? big : static_cast<uint64_t>(v), info.size);
      return out;
    }
    case DTypeKind::kFloat:
      OCKPT_RETURN_IF_ERROR(AppendFloat(j, dtype, zarr_format, &out));
      return out;
    case DTypeKind::kComplex: {
      DType part = dtype == DType::kComplex64 ? DType::kFloat32 : DType::kFloat64;
      if (j.is_array()) {
        if (j.size() != 2) return DataLossError("complex fill_value {} is not [re, im]", j.dump());
        OCKPT_RETURN_IF_ERROR(AppendFloat(j[0], part, zarr_format, &out));
        OCKPT_RETURN_IF_ERROR(AppendFloat(j[1], part, zarr_format, &out));
        return out;
      }
      OCKPT_RETURN_IF_ERROR(AppendFloat(j, part, zarr_format, &out));
      OCKPT_RETURN_IF_ERROR(AppendFloat(Json(0.0), part, zarr_format, &out));
      return out;
    }
  }
  return InternalError("unhandled dtype kind");
}

}  // namespace

Result<uint16_t> EncodeSmallFloat(double value, DType dtype) {
  OCKPT_ASSIGN_OR_RETURN(SmallFloat f, SmallFloatFormat(dtype));
  const int total = ValueBits(f);
  const std::optional<uint32_t> nan_bits = NanBits(f);
  if (std::isnan(value)) {
    if (!nan_bits) return DataLossError("{} has no NaN", Name(dtype));
    return static_cast<uint16_t>(*nan_bits);
  }
  const bool neg = std::signbit(value);
  const double a = std::fabs(value);
  if (f.specials == Specials::kE8M0) {
    // Unsigned powers of two 2^(p - 127), p in [0, 254]; no zero.
    if (neg && a != 0) return static_cast<uint16_t>(*nan_bits);
    if (a == 0) return uint16_t{0};
    if (std::isinf(a)) return static_cast<uint16_t>(*nan_bits);
    int x;
    const double m = 2 * std::frexp(a, &x);  // a = m * 2^(x-1), m in [1, 2)
    int p = x - 1 + f.bias;
    if (m > 1.5 || (m == 1.5 && (p & 1))) ++p;
    if (p < 0) p = 0;
    if (p > 254) return static_cast<uint16_t>(*nan_bits);
    return static_cast<uint16_t>(p);
  }
  // Largest finite pattern.
  uint32_t max_p;
  switch (f.specials) {
    case Specials::kIeee:
      max_p = (1u << total) - (1u << f.mbits) - 1;
      break;
    case Specials::kFn:
      max_p = (1u << total) - 2;
      break;
    default:
      max_p = (1u << total) - 1;
      break;
  }
  uint32_t p;
  if (std::isinf(a)) {
    p = max_p + 1;
  } else {
    // Round a to a multiple of the quantum of its binade (ties to even),
    // then read the pattern off the rounded value: for positive values the
    // pattern is (biased exponent << mbits) + mantissa, subnormals included.
    const int emin = 1 - f.bias;
    int x;
    std::frexp(a, &x);
    const int e = a == 0 ? emin : std::max(emin, x - 1);
    const double q = std::ldexp(1.0, e - f.mbits);
    const double r = std::nearbyint(a / q);  // default rounding: nearest, ties to even
    const double v = r * q;
    if (v == 0) {
      p = 0;
    } else {
      std::frexp(v, &x);
      const int ve = std::max(emin, x - 1);
      const double mant = v / std::ldexp(1.0, ve - f.mbits);  // integer in [0, 2^(mbits+1))
      const int biased = v < std::ldexp(1.0, emin) ? 0 : ve + f.bias;
      const double pattern = std::ldexp(static_cast<double>(biased), f.mbits) + mant -
                             (biased == 0 ? 0 : std::ldexp(1.0, f.mbits));
      p = pattern > static_cast<double>(max_p) ? max_p + 1 : static_cast<uint32_t>(pattern);
    }
  }
  if (p > max_p) {  // overflow
    if (f.specials == Specials::kIeee) {
      p = ((1u << f.ebits) - 1) << f.mbits;
    } else if (f.specials == Specials::kNone) {
      p = max_p;
    } else {
      return static_cast<uint16_t>(*nan_bits);
    }
  }
  if (neg && !(f.specials == Specials::kFnuz && p == 0)) p |= 1u << total;
  return static_cast<uint16_t>(p);
}

Result<double> DecodeSmallFloat(uint16_t bits, DType dtype) {
  OCKPT_ASSIGN_OR_RETURN(SmallFloat f, SmallFloatFormat(dtype));
  const int width = f.specials == Specials::kE8M0 ? 8 : ValueBits(f) + 1;
  if (width < 16 && bits >= (1u << width)) {
    return DataLossError("{:#x} is not a {} bit pattern", bits, Name(dtype));
  }
  return Decode(f, bits);
}

Result<Bytes> DecodeBase64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return DataLossError("bad base64 length {}", text.size());
  Bytes out;
  uint32_t acc = 0;
  int nbits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) return DataLossError("bad base64 character '{}'", c);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out.push_back(static_cast<char>((acc >> nbits) & 0xff));
    }
  }
  return out;
}

Result<Bytes> ParseFillValue(const Json& j, DType dtype, int zarr_format, bool stored_big_endian) {
  const size_t size = SizeOf(dtype);
  if (j.is_null()) return Bytes(size, '\0');
  const DTypeInfo& info = Info(dtype);
  if (zarr_format == 2 && j.is_string() && !NamedFloat(j.get_ref<const std::string&>())) {
    // Raw element bytes, base64, in stored byte order.
    auto raw = DecodeBase64(j.get_ref<const std::string&>());
    if (!raw.ok()) return std::move(raw).WithContext("fill_value");
    if (raw->size() != size) {
      return DataLossError("base64 fill_value has {} bytes, {} needs {}", raw->size(), Name(dtype),
                           size);
    }
    if (stored_big_endian) {
      SwapBytes(&*raw, info.kind == DTypeKind::kComplex ? size / 2 : size);
    }
    return raw;
  }
  auto parsed = ParseTyped(j, dtype, zarr_format);
  if (!parsed.ok()) return parsed.status();
  return parsed;
}

}  // namespace ockpt::zarr
