// Showing OCDBT keys (arbitrary bytes) as text: escaping for messages and
// listings, UTF-8 validation for JSON, base64 for keys that are not UTF-8.

#ifndef OCKPT_FORMATS_OCDBT_KEY_TEXT_H_
#define OCKPT_FORMATS_OCDBT_KEY_TEXT_H_

#include <string>
#include <string_view>

#include "lib/base/bytes.h"

namespace ockpt::ocdbt {

// Valid UTF-8 (no overlong forms, surrogates or code points > U+10FFFF).
bool IsValidUtf8(ByteView s);

// The key as one line of text: valid UTF-8 stays as is except control
// characters (tab, newline, DEL, ...), other bytes and backslash, which
// become \xNN (backslash: \\).
std::string EscapeKey(ByteView key);

// Standard base64 (RFC 4648, with padding).
std::string Base64Encode(ByteView data);
// Strict inverse of Base64Encode; kInvalidArgument on anything else.
Result<Bytes> Base64Decode(std::string_view text);

}  // namespace ockpt::ocdbt

#endif  // OCKPT_FORMATS_OCDBT_KEY_TEXT_H_
