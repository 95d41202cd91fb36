#include "lib/base/crc32c.h"

#include <catch2/catch.hpp>

namespace ockpt {
namespace {

TEST_CASE("CRC-32C check value and extension") {
  CHECK(Crc32c("123456789") == 0xE3069283u);
  CHECK(Crc32c("") == 0u);
  CHECK(Crc32cExtend(Crc32c("12345"), "6789") == 0xE3069283u);
}

}  // namespace
}  // namespace ockpt
