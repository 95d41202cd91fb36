// The staging pipeline on the host backend: the same ring, streams and
// events as on CUDA, with host memory as device memory. The GPU test binary
// (OCKPT_GPU_TESTS) compiles this file again with
// OCKPT_STAGING_TEST_DEVICE="cuda:0"; tests of host-only knobs (injected
// failures, memory limits) use the host backend in both.

#include "lib/staging/staging.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <thread>

#include "lib/base/sha256.h"
#include "tests/lib/staging/staging_test_util.h"
#include "tests/support/pattern.h"

namespace ockpt::staging {
namespace {

using testing::Download;
using testing::kTestDevice;
using testing::OpenTestDevice;
using testing::Pattern;

std::unique_ptr<DeviceContext> Host(StagingOptions opt = {}, HostBackendOptions host = {}) {
  auto dev = DeviceContext::OpenHost(opt, host);
  INFO(dev.status().ToString());
  REQUIRE(dev.ok());
  return std::move(dev).value();
}

// Pieces of random sizes covering [0, n), in a shuffled order.
std::vector<std::pair<uint64_t, uint64_t>> ShuffledPieces(uint64_t n, uint64_t max_piece,
                                                          uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::pair<uint64_t, uint64_t>> pieces;
  for (uint64_t pos = 0; pos < n;) {
    uint64_t len = std::min<uint64_t>(n - pos, 1 + rng() % max_piece);
    pieces.push_back({pos, len});
    pos += len;
  }
  std::shuffle(pieces.begin(), pieces.end(), rng);
  return pieces;
}

const DType kAllDTypes[] = {
    DType::kBool,          DType::kInt8,           DType::kInt16,
    DType::kInt32,         DType::kInt64,          DType::kUInt8,
    DType::kUInt16,        DType::kUInt32,         DType::kUInt64,
    DType::kFloat16,       DType::kBFloat16,       DType::kFloat32,
    DType::kFloat64,       DType::kComplex64,      DType::kComplex128,
    DType::kFloat8E4M3FN,  DType::kFloat8E4M3FNUZ, DType::kFloat8E4M3B11FNUZ,
    DType::kFloat8E5M2,    DType::kFloat8E5M2FNUZ, DType::kFloat8E3M4,
    DType::kFloat8E8M0FNU, DType::kFloat4E2M1FN,   DType::kInt4,
    DType::kUInt4,         DType::kInt2,           DType::kUInt2,
};

TEST_CASE("every dtype goes through device memory and back unchanged") {
  StagingOptions opt;
  opt.buffer_bytes = 1000;  // not a multiple of any element size: pieces straddle buffers
  opt.buffers = 3;
  opt.streams = 2;
  auto dev = OpenTestDevice(opt);
  uint32_t seed = 1;
  for (DType d : kAllDTypes) {
    INFO(Name(d));
    LeafRecord leaf;
    leaf.keypath = {{"x", KeyType::kDict}};
    leaf.dtype = d;
    leaf.shape = Shape{37, 53};
    const uint64_t bytes = LeafBytes(leaf);
    REQUIRE(bytes == 37 * 53 * SizeOf(d));
    Bytes host = Pattern(bytes, seed++);
    // Rows arrive in a shuffled order, as chunk runs do.
    PieceDigests digests;
    auto a = dev->Stage(
        bytes,
        [&](ArrayWriter& w) -> Status {
          for (auto [off, len] : ShuffledPieces(bytes, 700, seed)) {
            OCKPT_RETURN_IF_ERROR(w.WriteAt(off, ByteView(host).substr(off, len)));
          }
          return Status::Ok();
        },
        &digests);
    INFO(a.status().ToString());
    REQUIRE(a.ok());
    CHECK(Download(*dev, *a) == host);
    auto sha = dev->Sha256(*a);
    REQUIRE(sha.ok());
    CHECK(*sha == Sha256Hex(host));
    Status v = dev->Verify(*a, digests);
    INFO(v.ToString());
    CHECK(v.ok());
    // And back into the save pipeline: random reads of the device array.
    std::unique_ptr<ArraySource> src = dev->OpenSource(*a);
    REQUIRE(src->size() == bytes);
    std::mt19937 rng(seed);
    for (int k = 0; k < 20; ++k) {
      uint64_t off = rng() % bytes;
      size_t n = static_cast<size_t>(std::min<uint64_t>(bytes - off, rng() % 3000));
      Bytes got(n, '\0');
      REQUIRE(src->ReadAt(off, n, got.data()).ok());
      CHECK(got == host.substr(off, n));
    }
  }
  CHECK(dev->stats().device_bytes == 0);
}

TEST_CASE("uploads and sequential reads with prefetch") {
  StagingOptions opt;
  opt.buffer_bytes = 4096;
  opt.buffers = 4;
  auto dev = OpenTestDevice(opt);
  const size_t n = 300000;
  Bytes host = Pattern(n, 7);
  MemoryArraySource mem(host);
  PieceDigests digests;
  auto a = dev->Upload(mem, &digests);
  REQUIRE(a.ok());
  CHECK(dev->Verify(*a, digests).ok());
  CHECK(dev->stats().bytes_to_device == n);
  const uint64_t read_before = dev->stats().bytes_to_host;  // Verify read it back once
  std::unique_ptr<ArraySource> src = dev->OpenSource(*a);
  // Consecutive reads of odd sizes: each continues where the last ended.
  Bytes got;
  for (uint64_t pos = 0; pos < n;) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(n - pos, 1234));
    Bytes piece(len, '\0');
    REQUIRE(src->ReadAt(pos, len, piece.data()).ok());
    got += piece;
    pos += len;
  }
  CHECK(got == host);
  // A sequential scan reads each byte back once (plus at most the ring's
  // worth of prefetch past the end of the first read).
  StagingStats st = dev->stats();
  CHECK(st.bytes_to_host - read_before >= n);
  CHECK(st.bytes_to_host - read_before <= n + opt.buffers * opt.buffer_bytes);
  // Backwards and overlapping reads still see the right bytes.
  for (uint64_t off :
       {uint64_t{200000}, uint64_t{10}, uint64_t{4095}, uint64_t{4096}, uint64_t{299999}}) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(n - off, 9000));
    Bytes piece(len, '\0');
    REQUIRE(src->ReadAt(off, len, piece.data()).ok());
    CHECK(piece == host.substr(off, len));
  }
  Bytes none;
  CHECK(src->ReadAt(n, 0, none.data()).ok());
  CHECK(src->ReadAt(n - 1, 2, got.data()).code() == StatusCode::kInternal);
}

TEST_CASE("the ring never holds more copies in flight than its buffers") {
  StagingOptions opt;
  opt.buffer_bytes = 4096;
  opt.buffers = 3;
  opt.streams = 2;
  HostBackendOptions host;
  host.copy_delay = std::chrono::microseconds(300);  // a slow link: the producer outruns it
  const bool on_host = kTestDevice == "host";
  auto dev = on_host ? Host(opt, host) : OpenTestDevice(opt);
  CHECK(dev->stats().pinned_bytes == 3 * 4096);
  const size_t n = 1 << 20;
  Bytes data = Pattern(n, 3);
  auto a = dev->Stage(n, [&](ArrayWriter& w) { return w.WriteAt(0, data); });
  REQUIRE(a.ok());
  StagingStats st = dev->stats();
  CHECK(st.copies_to_device == n / 4096);
  CHECK(st.max_buffers_in_flight <= 3);
  if (on_host) {
    CHECK(st.max_buffers_in_flight >= 2);  // copies overlapped with filling the next buffer
    CHECK(st.buffer_waits > 0);
  }
  CHECK(st.pinned_bytes == 3 * 4096);
  CHECK(st.device_bytes == n);
  CHECK(Download(*dev, *a) == data);
  st = dev->stats();
  CHECK(st.max_buffers_in_flight <= 3);
  a = DeviceArray();
  CHECK(dev->stats().device_bytes == 0);
  CHECK(dev->stats().peak_device_bytes == n);
}

TEST_CASE("errors propagate") {
  SECTION("from the producer; device memory is freed") {
    auto dev = Host();
    auto a = dev->Stage(100, [](ArrayWriter& w) -> Status {
      OCKPT_RETURN_IF_ERROR(w.WriteAt(0, Bytes(10, 'x')));
      return DataLossError("chunk 3: bad zstd frame");
    });
    REQUIRE(!a.ok());
    CHECK(a.status().code() == StatusCode::kDataLoss);
    CHECK(a.status().message() == "chunk 3: bad zstd frame");
    CHECK(dev->stats().device_bytes == 0);
  }
  SECTION("from a failed copy, reported when its buffer's event is waited for") {
    StagingOptions opt;
    opt.buffer_bytes = 100;
    HostBackendOptions host;
    host.fail_copy = 5;
    auto dev = Host(opt, host);
    Bytes data = Pattern(2000, 1);
    auto a = dev->Stage(2000, [&](ArrayWriter& w) { return w.WriteAt(0, data); });
    REQUIRE(!a.ok());
    CHECK(a.status().code() == StatusCode::kIoError);
    CHECK(a.status().message().find("injected") != std::string::npos);
    // The context stays usable.
    auto b = dev->Stage(2000, [&](ArrayWriter& w) { return w.WriteAt(0, data); });
    REQUIRE(b.ok());
    CHECK(Download(*dev, *b) == data);
  }
  SECTION("from a failed copy while reading back") {
    StagingOptions opt;
    opt.buffer_bytes = 100;
    HostBackendOptions host;
    host.fail_copy = 25;  // 20 copies up, then the 6th copy back
    auto dev = Host(opt, host);
    Bytes data = Pattern(2000, 1);
    auto a = dev->Stage(2000, [&](ArrayWriter& w) { return w.WriteAt(0, data); });
    REQUIRE(a.ok());
    Bytes out(2000, '\0');
    Status s = dev->CopyToHost(*a, 0, 2000, out.data());
    CHECK(s.code() == StatusCode::kIoError);
  }
  SECTION("out of device memory") {
    HostBackendOptions host;
    host.memory_limit = 1000;
    auto dev = Host({}, host);
    auto a = dev->Allocate(600);
    REQUIRE(a.ok());
    auto b = dev->Allocate(600);
    REQUIRE(!b.ok());
    CHECK(b.status().code() == StatusCode::kIoError);
    CHECK(b.status().message().find("out of memory") != std::string::npos);
    a = DeviceArray();
    CHECK(dev->Allocate(600).ok());
  }
  SECTION("writes outside the array; errors are sticky") {
    auto dev = Host();
    auto a = dev->Allocate(10);
    REQUIRE(a.ok());
    auto w = dev->OpenWriter(&*a);
    CHECK(w->WriteAt(8, Bytes(3, 'x')).code() == StatusCode::kInternal);
    CHECK(w->WriteAt(0, Bytes(3, 'x')).code() == StatusCode::kInternal);
    CHECK(w->Finish().code() == StatusCode::kInternal);
  }
  SECTION("a device copy that differs from the host bytes") {
    auto dev = Host();
    Bytes data = Pattern(5000, 2);
    PieceDigests digests;
    auto a = dev->Stage(
        5000,
        [&](ArrayWriter& w) -> Status {
          OCKPT_RETURN_IF_ERROR(w.WriteAt(2500, ByteView(data).substr(2500)));
          return w.WriteAt(0, ByteView(data).substr(0, 2500));
        },
        &digests);
    REQUIRE(a.ok());
    REQUIRE(dev->Verify(*a, digests).ok());
    static_cast<char*>(a->data())[3000] ^= 1;  // host backend: device memory is host memory
    Status s = dev->Verify(*a, digests);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message().find("[2500, 5000)") != std::string::npos);
    PieceDigests gap;
    gap.Add(0, ByteView(data).substr(0, 100));
    CHECK(dev->Verify(*a, gap).code() == StatusCode::kInternal);
  }
  SECTION("a source that reads from the device it is uploaded to") {
    auto dev = Host();
    auto a = dev->Stage(100, [](ArrayWriter& w) { return w.WriteAt(0, Bytes(100, 'a')); });
    REQUIRE(a.ok());
    std::unique_ptr<ArraySource> src = dev->OpenSource(*a);
    auto b = dev->Upload(*src);
    REQUIRE(!b.ok());
    CHECK(b.status().code() == StatusCode::kInternal);
  }
}

TEST_CASE("device names") {
  auto bad = DeviceContext::Open("tpu:0");
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(DeviceContext::Open("cuda:x").status().code() == StatusCode::kInvalidArgument);
  // Out of range on any machine, with or without CUDA support in this build.
  auto none = DeviceContext::Open("cuda:99999");
  REQUIRE(!none.ok());
  CHECK(none.status().code() == StatusCode::kFailedPrecondition);
  auto host = DeviceContext::Open("host");
  REQUIRE(host.ok());
  CHECK((*host)->name() == "host");
  auto cpu = DeviceRun::Open("cpu");
  REQUIRE(cpu.ok());
  CHECK(*cpu == nullptr);
  CHECK(DeviceRun::Open("gpu").status().code() == StatusCode::kInvalidArgument);
  CHECK(DeviceRun::Open("cuda:").status().code() == StatusCode::kInvalidArgument);
  CHECK(DeviceRun::Open("cuda:99999").status().code() == StatusCode::kFailedPrecondition);
  CHECK(DeviceContext::OpenHost(StagingOptions{0, 1, 1}, {}).status().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("threads share one context") {
  StagingOptions opt;
  opt.buffer_bytes = 512;
  auto dev = OpenTestDevice(opt);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 10; ++k) {
        Bytes data = Pattern(10000 + t * 100 + k, t * 100 + k);
        auto a = dev->Stage(data.size(), [&](ArrayWriter& w) -> Status {
          for (auto [off, len] : ShuffledPieces(data.size(), 3000, k)) {
            OCKPT_RETURN_IF_ERROR(w.WriteAt(off, ByteView(data).substr(off, len)));
          }
          return Status::Ok();
        });
        if (!a.ok()) {
          ++bad;
          continue;
        }
        Bytes out(data.size(), '\0');
        if (!dev->CopyToHost(*a, 0, out.size(), out.data()).ok() || out != data) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(bad == 0);
  CHECK(dev->stats().device_bytes == 0);
}

TEST_CASE("bandwidth measurement") {
  auto dev = OpenTestDevice();
  auto up = dev->MeasureBandwidth(true, 1 << 20, 2);
  REQUIRE(up.ok());
  CHECK(*up > 0);
  auto down = dev->MeasureBandwidth(false, 1 << 20, 2);
  REQUIRE(down.ok());
  CHECK(*down > 0);
}

}  // namespace
}  // namespace ockpt::staging
