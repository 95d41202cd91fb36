// Shape arithmetic and byte shuffling for zarr chunks.

#include "formats/zarr/chunk_layout.h"

#include <algorithm>
#include <cstring>

namespace ockpt::zarr {

Result<uint64_t> CheckedByteCount(const Shape& shape, size_t element_size, uint64_t limit,
                                  std::string_view what) {
  uint64_t n = element_size;
  if (n > limit) return DataLossError("{} element size {} exceeds {}", what, element_size, limit);
  for (int64_t d : shape) {
    if (d < 0) return DataLossError("{} has negative dimension {}", what, d);
    if (d == 0) {
      n = 0;
      continue;
    }
    if (n != 0 && static_cast<uint64_t>(d) > limit / n) {
      return DataLossError("{} {} is too large ({} bytes at most)", what, ShapeString(shape),
                           limit);
    }
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

std::vector<uint64_t> CStrides(const Shape& shape) {
  std::vector<uint64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i > 1; --i) {
    s[i - 2] = s[i - 1] * static_cast<uint64_t>(shape[i - 1]);
  }
  return s;
}

namespace {

template <size_t N>
void TransposeCopy(const char* src, char* dst, const Shape& enc_shape,
                   const std::vector<uint64_t>& out_stride, size_t esize) {
  const size_t rank = enc_shape.size();
  const int64_t inner = enc_shape[rank - 1];
  const uint64_t inner_stride = out_stride[rank - 1] * esize;
  std::vector<int64_t> idx(rank, 0);
  while (true) {
    uint64_t o = 0;
    for (size_t d = 0; d + 1 < rank; ++d) o += static_cast<uint64_t>(idx[d]) * out_stride[d];
    char* out = dst + o * esize;
    for (int64_t i = 0; i < inner; ++i) {
      std::memcpy(out, src, N == 0 ? esize : N);
      src += N == 0 ? esize : N;
      out += inner_stride;
    }
    size_t d = rank - 1;
    while (true) {
      if (d == 0) return;
      --d;
      if (++idx[d] < enc_shape[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

Bytes UndoTranspose(ByteView encoded, const Shape& decoded_shape, const std::vector<int>& perm,
                    size_t element_size) {
  const size_t rank = decoded_shape.size();
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<int>(i);
  if (identity || rank < 2 || encoded.empty()) return Bytes(encoded);
  std::vector<uint64_t> dec_stride = CStrides(decoded_shape);
  Shape enc_shape(rank);
  std::vector<uint64_t> out_stride(rank);
  for (size_t i = 0; i < rank; ++i) {
    enc_shape[i] = decoded_shape[static_cast<size_t>(perm[i])];
    out_stride[i] = dec_stride[static_cast<size_t>(perm[i])];
  }
  Bytes out(encoded.size(), '\0');
  switch (element_size) {
    case 1:
      TransposeCopy<1>(encoded.data(), out.data(), enc_shape, out_stride, 1);
      break;
    case 2:
      TransposeCopy<2>(encoded.data(), out.data(), enc_shape, out_stride, 2);
      break;
    case 4:
      TransposeCopy<4>(encoded.data(), out.data(), enc_shape, out_stride, 4);
      break;
    case 8:
      TransposeCopy<8>(encoded.data(), out.data(), enc_shape, out_stride, 8);
      break;
    case 16:
      TransposeCopy<16>(encoded.data(), out.data(), enc_shape, out_stride, 16);
      break;
    default:
      TransposeCopy<0>(encoded.data(), out.data(), enc_shape, out_stride, element_size);
  }
  return out;
}

Shape GridIndex(const Shape& grid, uint64_t i) {
  Shape index(grid.size());
  for (size_t d = grid.size(); d-- > 0;) {
    index[d] = static_cast<int64_t>(i % static_cast<uint64_t>(grid[d]));
    i /= static_cast<uint64_t>(grid[d]);
  }
  return index;
}

uint64_t NumChunks(const Shape& grid) {
  uint64_t n = 1;
  for (int64_t g : grid) n *= static_cast<uint64_t>(g);
  return n;
}

void SwapBytes(Bytes* data, size_t unit) { SwapBytes(data->data(), data->size(), unit); }

void SwapBytes(char* p, size_t size, size_t unit) {
  if (unit <= 1) return;
  const size_t n = size / unit * unit;
  for (size_t i = 0; i < n; i += unit) std::reverse(p + i, p + i + unit);
}

Bytes RepeatElement(ByteView element, uint64_t count) {
  const size_t esize = element.size();
  if (std::all_of(element.begin(), element.end(), [](char c) { return c == 0; })) {
    return Bytes(count * esize, '\0');
  }
  Bytes out(count * esize, '\0');
  for (uint64_t i = 0; i < count; ++i) std::memcpy(out.data() + i * esize, element.data(), esize);
  return out;
}

}  // namespace ockpt::zarr
