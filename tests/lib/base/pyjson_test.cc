#include "lib/base/pyjson.h"

#include <catch2/catch.hpp>

namespace ockpt {
namespace {

using Json = nlohmann::ordered_json;

TEST_CASE("json.dumps separators, key order and escapes") {
  Json j;
  j["tree_metadata"] = Json::object();
  j["b"] = {1, 2.5, nullptr, true};
  j["a"] = "caf\xc3\xa9 \"q\" \\ \n \x01";
  CHECK(PyJsonDumps(j) ==
        R"({"tree_metadata": {}, "b": [1, 2.5, null, true], "a": "caf\u00e9 \"q\" \\ \n \u0001"})");
  CHECK(PyJsonDumps(Json("\xf0\x9f\x98\x80")) == R"("\ud83d\ude00")");
}

TEST_CASE("float repr matches Python") {
  CHECK(PyFloatRepr(1.0) == "1.0");
  CHECK(PyFloatRepr(0.5) == "0.5");
  CHECK(PyFloatRepr(1e-05) == "1e-05");
  CHECK(PyFloatRepr(0.0001) == "0.0001");
  CHECK(PyFloatRepr(1e16) == "1e+16");
  CHECK(PyFloatRepr(1234567.0) == "1234567.0");
  CHECK(PyFloatRepr(0.1) == "0.1");
  CHECK(PyFloatRepr(-0.0) == "-0.0");
  CHECK(PyFloatRepr(std::nan("")) == "NaN");
}

TEST_CASE("str repr matches Python") {
  CHECK(PyRepr("a") == "'a'");
  CHECK(PyRepr("it's") == "\"it's\"");
  CHECK(PyRepr("both ' and \"") == "'both \\' and \"'");
  CHECK(PyRepr("a\\b\n") == "'a\\\\b\\n'");
}

}  // namespace
}  // namespace ockpt
