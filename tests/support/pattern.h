// Pattern: deterministic pseudo-random test bytes that need only lib/base.

#ifndef OCKPT_TESTS_SUPPORT_PATTERN_H_
#define OCKPT_TESTS_SUPPORT_PATTERN_H_

#include <cstddef>
#include <cstdint>

#include "lib/base/bytes.h"

namespace ockpt::testing {

// n bytes from a linear congruential generator; the same (n, seed) always
// gives the same bytes.
inline Bytes Pattern(size_t n, uint32_t seed) {
  Bytes b(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    b[i] = static_cast<char>(x >> 24);
  }
  return b;
}

}  // namespace ockpt::testing

#endif  // OCKPT_TESTS_SUPPORT_PATTERN_H_
