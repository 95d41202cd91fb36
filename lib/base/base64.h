// Base64 (RFC 4648), standard and URL-safe alphabets, with '=' padding.

#ifndef OCKPT_LIB_BASE_BASE64_H_
#define OCKPT_LIB_BASE_BASE64_H_

#include <string>

#include "lib/base/bytes.h"

namespace ockpt {

std::string Base64Encode(ByteView data, bool url_safe = false);
// Accepts either alphabet; padding optional. kDataLoss on bad input.
Result<Bytes> Base64Decode(std::string_view text);

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_BASE64_H_
