// Helpers for the tests that link ockpt_orbax: reading a leaf of an opened
// PyTree item back into memory.

#ifndef OCKPT_TESTS_FORMATS_ORBAX_ORBAX_TEST_UTIL_H_
#define OCKPT_TESTS_FORMATS_ORBAX_ORBAX_TEST_UTIL_H_

#include <catch2/catch.hpp>
#include <string>

#include "formats/orbax/checkpoint_reader.h"
#include "lib/checkpoint/array_io.h"

namespace ockpt::testing {

// The bytes of the array leaf named `name` (dotted); fails the test case
// when there is no such leaf or it cannot be read.
inline Bytes ReadLeafBytes(const orbax::PyTreeItem& item, const std::string& name) {
  for (size_t i = 0; i < item.leaves().size(); ++i) {
    const LeafRecord& r = item.leaves()[i];
    if (r.name() != name) continue;
    REQUIRE(r.HasArrayData());
    MemoryArrayWriter w(NumElements(*r.shape) * SizeOf(*r.dtype));
    Status s = item.ReadLeaf(i, w);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return w.data();
  }
  FAIL("no leaf " << name);
  return {};
}

}  // namespace ockpt::testing

#endif  // OCKPT_TESTS_FORMATS_ORBAX_ORBAX_TEST_UTIL_H_
