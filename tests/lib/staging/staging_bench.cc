// ockpt_staging_bench: what a device's staging path can reach, for
// scripts/gpu-check.sh to put restore/save throughput in context.
//
//   ockpt_staging_bench [--device host|cuda:N] [--mib N] [--buffer-mib N] [--buffers N]
//
// Prints one JSON object on stdout (rates in GB/s, 1 GB = 1e9 bytes):
//   pinned_h2d / pinned_d2h: one copy between a pinned buffer and device
//     memory (the link's ceiling);
//   staged_h2d / staged_d2h: the staging ring between ordinary (pageable)
//     host memory and device memory, in 64 MiB pieces (what restore and save
//     get at best);
//   memcpy: one host thread copying pageable memory (the ring's copy-in cost).
// Exit 0, or 6 with a message on stderr when the device cannot be opened
// (e.g. "no CUDA device: ...").

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "lib/staging/staging.h"

using namespace ockpt;
using namespace ockpt::staging;

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int Fail(const Status& s) {
  std::cerr << "ockpt_staging_bench: " << s.message() << "\n";
  return s.code() == StatusCode::kInvalidArgument ? 2 : 6;
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "host";
  uint64_t mib = 1024;
  StagingOptions opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "ockpt_staging_bench: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--device") {
      device = next();
    } else if (a == "--mib") {
      mib = std::stoull(next());
    } else if (a == "--buffer-mib") {
      opt.buffer_bytes = std::stoull(next()) << 20;
    } else if (a == "--buffers") {
      opt.buffers = std::stoi(next());
    } else {
      std::cerr << "usage: ockpt_staging_bench [--device host|cuda:N] [--mib N] [--buffer-mib N] "
                   "[--buffers N]\n";
      return 2;
    }
  }
  auto dev = DeviceContext::Open(device, opt);
  if (!dev.ok()) return Fail(dev.status());
  const uint64_t bytes = mib << 20;
  auto h2d = (*dev)->MeasureBandwidth(true, bytes);
  if (!h2d.ok()) return Fail(h2d.status());
  auto d2h = (*dev)->MeasureBandwidth(false, bytes);
  if (!d2h.ok()) return Fail(d2h.status());

  Bytes host(bytes, '\0');
  for (uint64_t i = 0; i < bytes; i += 4096) host[i] = static_cast<char>(i >> 12);
  Bytes copy(bytes, '\0');
  auto t0 = Clock::now();
  std::memcpy(copy.data(), host.data(), bytes);
  double memcpy_s = Since(t0);

  const uint64_t piece = uint64_t{64} << 20;
  double staged_h2d = 0, staged_d2h = 0;
  for (int r = 0; r < 2; ++r) {
    t0 = Clock::now();
    auto a = (*dev)->Stage(bytes, [&](ArrayWriter& w) -> Status {
      for (uint64_t off = 0; off < bytes; off += piece) {
        OCKPT_RETURN_IF_ERROR(
            w.WriteAt(off, ByteView(host).substr(off, std::min(piece, bytes - off))));
      }
      return Status::Ok();
    });
    double up = Since(t0);
    if (!a.ok()) return Fail(a.status());
    t0 = Clock::now();
    Status s = (*dev)->CopyToHost(*a, 0, bytes, copy.data());
    double down = Since(t0);
    if (!s.ok()) return Fail(s);
    if (copy != host)
      return Fail(
          DataLossError("the bytes read back from {} differ from the bytes staged", device));
    staged_h2d = std::max(staged_h2d, bytes / up / 1e9);
    staged_d2h = std::max(staged_d2h, bytes / down / 1e9);
  }
  StagingStats st = (*dev)->stats();
  std::printf(
      "{\"device\": \"%s\", \"bytes\": %llu, \"buffer_bytes\": %zu, \"buffers\": %d, \"streams\": "
      "%d, "
      "\"pinned_h2d_gbs\": %.3f, \"pinned_d2h_gbs\": %.3f, \"staged_h2d_gbs\": %.3f, "
      "\"staged_d2h_gbs\": %.3f, "
      "\"memcpy_gbs\": %.3f, \"max_buffers_in_flight\": %d}\n",
      (*dev)->Describe().c_str(), static_cast<unsigned long long>(bytes), opt.buffer_bytes,
      opt.buffers, opt.streams, *h2d / 1e9, *d2h / 1e9, staged_h2d, staged_d2h,
      bytes / memcpy_s / 1e9, st.max_buffers_in_flight);
  return 0;
}
