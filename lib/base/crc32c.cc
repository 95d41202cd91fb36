// CRC-32C through ISA-L. crc32_iscsi(buf, len, init) works on the raw register
// (no final inversion), so the standard value is ~crc32_iscsi(buf, len, ~0).

#include "lib/base/crc32c.h"

#include <isa-l.h>

namespace ockpt {

uint32_t Crc32cExtend(uint32_t crc, ByteView data) {
  uint32_t reg = ~crc;
  // crc32_iscsi takes an int length; feed large buffers in pieces.
  auto* p = reinterpret_cast<unsigned char*>(const_cast<char*>(data.data()));
  size_t n = data.size();
  while (n > 0) {
    int piece = n > (1u << 30) ? (1 << 30) : static_cast<int>(n);
    reg = crc32_iscsi(p, piece, reg);
    p += piece;
    n -= piece;
  }
  return ~reg;
}

uint32_t Crc32c(ByteView data) { return Crc32cExtend(0, data); }

}  // namespace ockpt
