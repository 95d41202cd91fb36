// Element casts.

#include "lib/dtype/cast.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace ockpt {

float HalfToFloat(uint16_t h) {
  uint32_t sign = uint32_t{h & 0x8000u} << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal
      float v = std::ldexp(static_cast<float>(man), -24);
      return sign ? -v : v;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or nan
    return sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0);
  }
  if (absx >= 0x477ff000u) return sign | 0x7c00;  // overflow to inf
  if (absx < 0x38800000u) {                       // subnormal or zero in half
    float a;
    std::memcpy(&a, &absx, 4);
    float scaled = a * 16777216.0f;  // 2^24
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return sign | static_cast<uint16_t>(m);
  }
  uint32_t exp = (absx >> 23) - 112;
  uint32_t man = absx & 0x7fffff;
  uint32_t half = (exp << 10) | (man >> 13);
  uint32_t rest = man & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;
  return sign | static_cast<uint16_t>(half);
}

float BFloat16ToFloat(uint16_t b) {
  uint32_t bits = uint32_t{b} << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBFloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // nan
  uint32_t rounding = 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

namespace {

bool Castable(DType d) {
  switch (Info(d).kind) {
    case DTypeKind::kBool:
    case DTypeKind::kInt:
    case DTypeKind::kUInt:
      return d != DType::kInt2 && d != DType::kUInt2;
    case DTypeKind::kFloat:
      return d == DType::kFloat16 || d == DType::kBFloat16 || d == DType::kFloat32 || d == DType::kFloat64;
    case DTypeKind::kComplex:
      return true;
  }
  return false;
}

struct Value {
  bool is_int = false;
  __int128 i = 0;
  double re = 0, im = 0;
};

Value Load(DType d, const char* p) {
  Value v;
  auto as_int = [&](__int128 x) {
    v.is_int = true;
    v.i = x;
    v.re = static_cast<double>(x);
  };
  switch (d) {
    case DType::kBool: as_int(*p != 0); break;
    case DType::kInt8: case DType::kInt4: as_int(static_cast<int8_t>(*p)); break;
    case DType::kUInt8: case DType::kUInt4: as_int(static_cast<uint8_t>(*p)); break;
    case DType::kInt16: { int16_t x; std::memcpy(&x, p, 2); as_int(x); break; }
    case DType::kUInt16: { uint16_t x; std::memcpy(&x, p, 2); as_int(x); break; }
    case DType::kInt32: { int32_t x; std::memcpy(&x, p, 4); as_int(x); break; }
    case DType::kUInt32: { uint32_t x; std::memcpy(&x, p, 4); as_int(x); break; }
    case DType::kInt64: { int64_t x; std::memcpy(&x, p, 8); as_int(x); break; }
    case DType::kUInt64: { uint64_t x; std::memcpy(&x, p, 8); as_int(x); break; }
    case DType::kFloat16: { uint16_t x; std::memcpy(&x, p, 2); v.re = HalfToFloat(x); break; }
    case DType::kBFloat16: { uint16_t x; std::memcpy(&x, p, 2); v.re = BFloat16ToFloat(x); break; }
    case DType::kFloat32: { float x; std::memcpy(&x, p, 4); v.re = x; break; }
    case DType::kFloat64: std::memcpy(&v.re, p, 8); break;
    case DType::kComplex64: { float x[2]; std::memcpy(x, p, 8); v.re = x[0]; v.im = x[1]; break; }
    case DType::kComplex128: std::memcpy(&v.re, p, 8); std::memcpy(&v.im, p + 8, 8); break;
    default: break;
  }
  return v;
}

template <typename T>
T ToInt(const Value& v) {
  if (v.is_int) return static_cast<T>(v.i);  // wraps, as NumPy does
  if (std::isnan(v.re)) return 0;
  double lo = static_cast<double>(std::numeric_limits<T>::min());
  double hi = static_cast<double>(std::numeric_limits<T>::max());
  if (v.re <= lo) return std::numeric_limits<T>::min();
  if (v.re >= hi) return std::numeric_limits<T>::max();
  return static_cast<T>(v.re);
}

void Store(DType d, const Value& v, char* p) {
  auto put = [&](auto x) { std::memcpy(p, &x, sizeof(x)); };
  switch (d) {
    case DType::kBool: *p = (v.is_int ? v.i != 0 : (v.re != 0 || v.im != 0)) ? 1 : 0; break;
    case DType::kInt8: put(ToInt<int8_t>(v)); break;
    case DType::kInt4: { int8_t x = ToInt<int8_t>(v); put(static_cast<int8_t>(((x & 0xf) ^ 8) - 8)); break; }
    case DType::kUInt4: put(static_cast<uint8_t>(ToInt<uint8_t>(v) & 0xf)); break;
    case DType::kUInt8: put(ToInt<uint8_t>(v)); break;
    case DType::kInt16: put(ToInt<int16_t>(v)); break;
    case DType::kUInt16: put(ToInt<uint16_t>(v)); break;
    case DType::kInt32: put(ToInt<int32_t>(v)); break;
    case DType::kUInt32: put(ToInt<uint32_t>(v)); break;
    case DType::kInt64: put(ToInt<int64_t>(v)); break;
    case DType::kUInt64: put(ToInt<uint64_t>(v)); break;
    case DType::kFloat16: put(FloatToHalf(static_cast<float>(v.re))); break;
    case DType::kBFloat16: put(FloatToBFloat16(static_cast<float>(v.re))); break;
    case DType::kFloat32: put(static_cast<float>(v.re)); break;
    case DType::kFloat64: put(v.re); break;
    case DType::kComplex64: { float x[2] = {static_cast<float>(v.re), static_cast<float>(v.im)}; std::memcpy(p, x, 8); break; }
    case DType::kComplex128: std::memcpy(p, &v.re, 8); std::memcpy(p + 8, &v.im, 8); break;
    default: break;
  }
}

// Significant bits a type holds exactly (ints: value bits; floats: mantissa).
int Precision(DType d) {
  switch (d) {
    case DType::kBool: return 1;
    case DType::kInt4: return 3;
    case DType::kUInt4: return 4;
    case DType::kInt8: return 7;
    case DType::kUInt8: return 8;
    case DType::kInt16: return 15;
    case DType::kUInt16: return 16;
    case DType::kInt32: return 31;
    case DType::kUInt32: return 32;
    case DType::kInt64: return 63;
    case DType::kUInt64: return 64;
    case DType::kBFloat16: return 8;
    case DType::kFloat16: return 11;
    case DType::kFloat32: case DType::kComplex64: return 24;
    case DType::kFloat64: case DType::kComplex128: return 53;
    default: return 0;
  }
}

int ExponentBits(DType d) {
  switch (d) {
    case DType::kFloat16: return 5;
    case DType::kBFloat16: case DType::kFloat32: case DType::kComplex64: return 8;
    case DType::kFloat64: case DType::kComplex128: return 11;
    default: return 0;
  }
}

}  // namespace

bool ElementToComplex(DType dtype, const char* element, double* re, double* im) {
  if (!Castable(dtype)) return false;
  Value v = Load(dtype, element);
  *re = v.is_int ? static_cast<double>(v.i) : v.re;
  *im = v.im;
  return true;
}

Status CheckCast(DType from, DType to) {
  if (from == to) return Status::Ok();
  if (!Castable(from) || !Castable(to)) {
    return UnimplementedError("cannot cast {} to {}", Name(from), Name(to));
  }
  return Status::Ok();
}

bool CastIsLossy(DType from, DType to) {
  if (from == to) return false;
  DTypeKind f = Info(from).kind, t = Info(to).kind;
  if (t == DTypeKind::kBool) return true;
  if (f == DTypeKind::kComplex && t != DTypeKind::kComplex) return true;
  bool f_float = f == DTypeKind::kFloat || f == DTypeKind::kComplex;
  bool t_float = t == DTypeKind::kFloat || t == DTypeKind::kComplex;
  if (f_float && !t_float) return true;
  if (!f_float && !t_float) {
    if (f == DTypeKind::kBool) return false;
    bool f_signed = f == DTypeKind::kInt, t_signed = t == DTypeKind::kInt;
    if (f_signed && !t_signed) return true;
    return Precision(from) > Precision(to);
  }
  if (!f_float) return Precision(from) > Precision(to);
  return Precision(from) > Precision(to) || ExponentBits(from) > ExponentBits(to);
}

Status CastElements(DType from, DType to, ByteView in, Bytes* out) {
  OCKPT_RETURN_IF_ERROR(CheckCast(from, to));
  size_t fs = SizeOf(from), ts = SizeOf(to);
  if (in.size() % fs != 0) return InternalError("cast input of {} bytes is not whole elements", in.size());
  size_t n = in.size() / fs;
  out->resize(n * ts);
  if (from == to) {
    std::memcpy(out->data(), in.data(), in.size());
    return Status::Ok();
  }
  for (size_t i = 0; i < n; ++i) Store(to, Load(from, in.data() + i * fs), out->data() + i * ts);
  return Status::Ok();
}

}  // namespace ockpt
