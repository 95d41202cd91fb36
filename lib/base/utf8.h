// Names are bytes: UTF-8 validation and one escaping for text output.

#ifndef OCKPT_LIB_BASE_UTF8_H_
#define OCKPT_LIB_BASE_UTF8_H_

#include <string>
#include <string_view>

namespace ockpt {

// Valid UTF-8 (no overlong forms, surrogates or code points > U+10FFFF).
bool IsValidUtf8(std::string_view s);

// `s` as one line of text: valid UTF-8 stays as is except control
// characters (tab, newline, ESC, DEL, ...), other bytes and backslash, which
// become \xNN (backslash: \\). Every command prints names (keys, leaf names,
// file paths from a checkpoint) through this in text output.
std::string EscapeBytes(std::string_view s);

// A message (that may quote names) as one line of text: `s` itself when it
// is valid UTF-8 without control characters, else EscapeBytes(s).
std::string TextLine(std::string_view s);

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_UTF8_H_
