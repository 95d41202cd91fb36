// A small SHA-256 (FIPS 180-4) for the examples: hex digest of a byte span.

#ifndef OCKPT_EXAMPLES_SHA256_H_
#define OCKPT_EXAMPLES_SHA256_H_

#include <cstddef>
#include <span>
#include <string>

std::string Sha256Hex(std::span<const std::byte> data);

#endif  // OCKPT_EXAMPLES_SHA256_H_
