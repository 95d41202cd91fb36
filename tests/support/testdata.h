// Paths of the test data checked into tests/data (see tests/data/SOURCES.md).

#ifndef OCKPT_TESTS_SUPPORT_TESTDATA_H_
#define OCKPT_TESTS_SUPPORT_TESTDATA_H_

#include <string>

namespace ockpt::testing {

// tests/data/<rel>
inline std::string TestData(const std::string& rel) {
  return std::string(OCKPT_TESTDATA_DIR) + "/" + rel;
}
// tests/data/golden/<rel>: real checkpoints written by Orbax / TensorStore.
inline std::string Golden(const std::string& rel) { return TestData("golden/" + rel); }

}  // namespace ockpt::testing

#endif  // OCKPT_TESTS_SUPPORT_TESTDATA_H_
