// Tests that need a CUDA GPU: built and registered only with
// -DOCKPT_CUDA=ON -DOCKPT_GPU_TESTS=ON (scripts/gpu-check.sh). The binary also
// holds staging_test.cc and staging_pipeline_test.cc compiled against
// cuda:0, so every dtype and every layout goes through real device memory.
// Nothing here is skipped: without a usable GPU these tests fail.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <random>

#include "lib/staging/staging.h"

namespace ockpt::staging {
namespace {

#ifndef OCKPT_HAVE_CUDA
#error "the GPU tests need the CUDA staging backend (OCKPT_HAVE_CUDA)"
#endif

std::unique_ptr<DeviceContext> Cuda(StagingOptions opt = {}) {
  auto dev = DeviceContext::Open("cuda:0", opt);
  INFO(dev.status().ToString());
  REQUIRE(dev.ok());
  return std::move(dev).value();
}

TEST_CASE("cuda:0 opens and describes itself") {
  auto dev = Cuda();
  CHECK(dev->name() == "cuda:0");
  CHECK(dev->Describe().rfind("cuda:0 (", 0) == 0);
  CHECK(dev->stats().pinned_bytes == dev->options().buffers * dev->options().buffer_bytes);
  auto bad = DeviceContext::Open("cuda:4096");
  CHECK(bad.status().code() == StatusCode::kFailedPrecondition);
  CHECK(bad.status().message().find("no CUDA device cuda:4096") != std::string::npos);
}

TEST_CASE("a multi-GiB array through device memory and back") {
  uint64_t gib = 3;
  if (const char* e = std::getenv("OCKPT_GPU_TEST_GIB")) gib = std::strtoull(e, nullptr, 10);
  const uint64_t n = gib << 30;
  Bytes host(n, '\0');
  for (uint64_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = i * 0x9E3779B97F4A7C15ull;
    std::memcpy(host.data() + i, &v, 8);
  }
  auto dev = Cuda();
  const uint64_t piece = uint64_t{48} << 20;  // not a multiple of the ring buffers
  PieceDigests digests;
  auto a = dev->Stage(
      n,
      [&](ArrayWriter& w) -> Status {
        // Last piece first: pieces arrive in any order.
        for (uint64_t end = n; end > 0;) {
          uint64_t off = end > piece ? end - piece : 0;
          OCKPT_RETURN_IF_ERROR(w.WriteAt(off, ByteView(host).substr(off, end - off)));
          end = off;
        }
        return Status::Ok();
      },
      &digests);
  INFO(a.status().ToString());
  REQUIRE(a.ok());
  Status v = dev->Verify(*a, digests);
  INFO(v.ToString());
  CHECK(v.ok());
  std::mt19937_64 rng(1);
  for (int k = 0; k < 50; ++k) {
    uint64_t off = rng() % n;
    size_t len = static_cast<size_t>(std::min<uint64_t>(n - off, rng() % (16 << 20)));
    Bytes got(len, '\0');
    REQUIRE(dev->CopyToHost(*a, off, len, got.data()).ok());
    CHECK(std::memcmp(got.data(), host.data() + off, len) == 0);
  }
  StagingStats st = dev->stats();
  CHECK(st.bytes_to_device == n);
  CHECK(st.max_buffers_in_flight <= dev->options().buffers);
  CHECK(st.peak_device_bytes == n);
  // Upload straight from an ArraySource, then the save path's sequential reads.
  a = DeviceArray();
  MemoryArraySource mem(std::move(host));
  PieceDigests up_digests;
  auto b = dev->Upload(mem, &up_digests);
  REQUIRE(b.ok());
  CHECK(dev->Verify(*b, up_digests).ok());
  std::unique_ptr<ArraySource> src = dev->OpenSource(*b);
  Bytes chunk(size_t{40} << 20, '\0');
  Bytes want(chunk.size(), '\0');
  bool same = true;
  for (uint64_t off = 0; off < n; off += chunk.size()) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(chunk.size(), n - off));
    REQUIRE(src->ReadAt(off, len, chunk.data()).ok());
    REQUIRE(mem.ReadAt(off, len, want.data()).ok());
    if (std::memcmp(chunk.data(), want.data(), len) != 0) same = false;
  }
  CHECK(same);
}

TEST_CASE("pinned copies reach a plausible bandwidth") {
  auto dev = Cuda();
  auto up = dev->MeasureBandwidth(true, uint64_t{256} << 20);
  REQUIRE(up.ok());
  auto down = dev->MeasureBandwidth(false, uint64_t{256} << 20);
  REQUIRE(down.ok());
  WARN("pinned host-to-device " << *up / 1e9 << " GB/s, device-to-host " << *down / 1e9 << " GB/s");
  CHECK(*up > 1e9);
  CHECK(*down > 1e9);
}

}  // namespace
}  // namespace ockpt::staging
