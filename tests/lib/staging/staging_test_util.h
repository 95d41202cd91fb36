// Setup shared by the staging tests that run on the device under test:
// OCKPT_STAGING_TEST_DEVICE ("host" unless the GPU test binary sets
// "cuda:0"), opening it, and reading arrays back from it.

#ifndef OCKPT_TESTS_LIB_STAGING_STAGING_TEST_UTIL_H_
#define OCKPT_TESTS_LIB_STAGING_STAGING_TEST_UTIL_H_

#ifndef OCKPT_STAGING_TEST_DEVICE
#define OCKPT_STAGING_TEST_DEVICE "host"
#endif

#include <catch2/catch.hpp>
#include <memory>
#include <string_view>

#include "lib/staging/staging.h"

namespace ockpt::testing {

inline constexpr std::string_view kTestDevice = OCKPT_STAGING_TEST_DEVICE;

// The device under test; fails the test case when it cannot be opened.
inline std::unique_ptr<staging::DeviceContext> OpenTestDevice(staging::StagingOptions opt = {}) {
  auto dev = staging::DeviceContext::Open(kTestDevice, opt);
  INFO(dev.status().ToString());
  REQUIRE(dev.ok());
  return std::move(dev).value();
}

// All of a device array's bytes, copied back to the host.
inline Bytes Download(staging::DeviceContext& dev, const staging::DeviceArray& a) {
  Bytes out(a.size(), '\0');
  Status s = dev.CopyToHost(a, 0, a.size(), out.data());
  INFO(s.ToString());
  REQUIRE(s.ok());
  return out;
}

}  // namespace ockpt::testing

#endif  // OCKPT_TESTS_LIB_STAGING_STAGING_TEST_UTIL_H_
