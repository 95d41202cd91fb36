// CRC-32C (Castagnoli), as OCDBT envelopes and the zarr3 crc32c codec use it:
// reflected polynomial 0x82F63B78, init and xorout 0xFFFFFFFF.
// Crc32c("123456789") == 0xE3069283. Backed by ISA-L's crc32_iscsi.

#ifndef OCKPT_LIB_BASE_CRC32C_H_
#define OCKPT_LIB_BASE_CRC32C_H_

#include <cstdint>

#include "lib/base/bytes.h"

namespace ockpt {

uint32_t Crc32c(ByteView data);
// Continues a CRC: Crc32cExtend(Crc32c(a), b) == Crc32c(a + b).
uint32_t Crc32cExtend(uint32_t crc, ByteView data);

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_CRC32C_H_
