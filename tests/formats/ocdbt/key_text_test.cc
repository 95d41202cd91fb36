// Key escaping, UTF-8 validation and base64.

#include <catch2/catch.hpp>

#include "formats/ocdbt/key_text.h"

namespace ockpt::ocdbt {
namespace {

TEST_CASE("UTF-8 validation", "[ocdbt][key_text]") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("a/.zarray"));
  CHECK(IsValidUtf8("gr\xc3\xbc\xc3\x9f"));          // grüß
  CHECK(IsValidUtf8("\xf0\x9f\x98\x80"));             // U+1F600
  CHECK(!IsValidUtf8("\xff"));
  CHECK(!IsValidUtf8("\xc0\xaf"));                    // overlong '/'
  CHECK(!IsValidUtf8("\xed\xa0\x80"));                // surrogate
  CHECK(!IsValidUtf8("\xf4\x90\x80\x80"));            // > U+10FFFF
  CHECK(!IsValidUtf8("\xe2\x82"));                    // truncated
}

TEST_CASE("key escaping", "[ocdbt][key_text]") {
  CHECK(EscapeKey("a/0.1") == "a/0.1");
  CHECK(EscapeKey("a\tb\n") == "a\\x09b\\x0a");
  CHECK(EscapeKey("back\\slash") == "back\\\\slash");
  CHECK(EscapeKey(std::string("\x00\xff", 2)) == "\\x00\\xff");
  CHECK(EscapeKey("gr\xc3\xbc\xc3\x9f") == "gr\xc3\xbc\xc3\x9f");
}

TEST_CASE("base64", "[ocdbt][key_text]") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\x00\x01"}) {
    CHECK(Base64Decode(Base64Encode(s)).value() == s);
  }
  CHECK(Base64Encode("foobar") == "Zm9vYmFy");
  CHECK(Base64Encode("fo") == "Zm8=");
  CHECK(Base64Encode("f") == "Zg==");
  CHECK(!Base64Decode("Zm8").ok());
  CHECK(!Base64Decode("Zm9=").ok());  // non-zero bits under padding
  CHECK(!Base64Decode("Z!==").ok());
}

}  // namespace
}  // namespace ockpt::ocdbt
