// WriteBehind: pieces reach the writer in order, from one other thread;
// a write failure reaches the producer; dropping it midway is safe.

#include "lib/checkpoint/write_behind.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <thread>

namespace ockpt {
namespace {

class OrderWriter final : public ArrayWriter {
 public:
  explicit OrderWriter(uint64_t size, uint64_t fail_at = ~uint64_t{0})
      : data(size, '\0'), fail_at_(fail_at) {}
  Status WriteAt(uint64_t offset, ByteView piece) override {
    if (offset != next) return InternalError("piece at {} while {} was next", offset, next);
    if (offset >= fail_at_) return DataLossError("disk full at {}", offset);
    threads.push_back(std::this_thread::get_id());
    data.replace(offset, piece.size(), piece);
    next += piece.size();
    return Status::Ok();
  }
  Bytes data;
  uint64_t next = 0;
  std::vector<std::thread::id> threads;

 private:
  uint64_t fail_at_;
};

TEST_CASE("WriteBehind hands pieces over in order on its own thread") {
  Bytes want(100000, '\0');
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<char>(i * 31 + (i >> 8));
  for (size_t depth : {2, 3, 8}) {
    OrderWriter out(want.size());
    {
      WriteBehind behind(out, 777, depth);
      CHECK(behind.piece_bytes() == 777);
      for (uint64_t pos = 0; pos < want.size(); pos += 777) {
        const size_t n = std::min<uint64_t>(777, want.size() - pos);
        auto buf = behind.Acquire();
        REQUIRE(buf.ok());
        std::memcpy(*buf, want.data() + pos, n);
        REQUIRE(behind.Submit(pos, n).ok());
      }
      REQUIRE(behind.Finish().ok());
    }
    CHECK(out.data == want);
    REQUIRE_FALSE(out.threads.empty());
    for (auto id : out.threads) CHECK(id != std::this_thread::get_id());
  }
}

TEST_CASE("WriteBehind: a failed write reaches the producer; dropped midway is safe") {
  OrderWriter out(100000, /*fail_at=*/5000);
  Status st;
  {
    WriteBehind behind(out, 1000, 3);
    for (uint64_t pos = 0; pos < 100000 && st.ok(); pos += 1000) {
      auto buf = behind.Acquire();
      if (!buf.ok()) {
        st = buf.status();
        break;
      }
      std::memset(*buf, 1, 1000);
      st = behind.Submit(pos, 1000);
    }
    if (st.ok()) st = behind.Finish();
  }
  CHECK(st.code() == StatusCode::kDataLoss);
  CHECK(st.message().find("disk full at 5000") != std::string::npos);
  CHECK(out.next == 5000);

  OrderWriter quiet(100000);
  {
    WriteBehind behind(quiet, 1000, 2);
    for (uint64_t pos = 0; pos < 3000; pos += 1000) {
      auto buf = behind.Acquire();
      REQUIRE(buf.ok());
      REQUIRE(behind.Submit(pos, 1000).ok());
    }
    // No Finish: the destructor drops what is queued and joins.
  }
  CHECK(quiet.next <= 3000);
}

}  // namespace
}  // namespace ockpt
