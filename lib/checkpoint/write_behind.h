// WriteBehind: hands the pieces of an array to an ArrayWriter on a thread of
// its own, so that the thread that makes them (a decoder working through
// one large zstd frame) never waits for the writes. A few piece buffers
// circulate between the two threads: memory is depth * piece_bytes.

#ifndef OCKPT_LIB_CHECKPOINT_WRITE_BEHIND_H_
#define OCKPT_LIB_CHECKPOINT_WRITE_BEHIND_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "lib/base/bytes.h"
#include "lib/checkpoint/array_io.h"

namespace ockpt {

class WriteBehind {
 public:
  // Starts the writer thread. out.WriteAt is called from that thread only,
  // one piece at a time, in the order the pieces are submitted.
  WriteBehind(ArrayWriter& out, size_t piece_bytes, size_t depth = 3);
  // Waits for the writer thread; pieces not yet written are dropped unless
  // Finish was called.
  ~WriteBehind();
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  size_t piece_bytes() const { return piece_bytes_; }
  // A free buffer of piece_bytes() (waits while every buffer is queued).
  // After a write failed: that failure.
  Result<char*> Acquire();
  // Queues the buffer last acquired: its first n bytes go to `offset`.
  Status Submit(uint64_t offset, size_t n);
  // Waits until every queued piece is written; the first write failure.
  Status Finish();

 private:
  struct Piece {
    size_t buffer;
    uint64_t offset;
    size_t n;
  };
  void Run();

  ArrayWriter& out_;
  size_t piece_bytes_;
  std::vector<Bytes> buffers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<size_t> free_;  // buffers the producer may fill
  std::deque<Piece> queue_;  // pieces to write, in order
  size_t acquired_ = 0;      // the buffer the producer holds
  bool writing_ = false;     // the writer holds a piece
  bool stop_ = false;
  Status error_;
  std::thread thread_;  // last: started after the rest exists
};

}  // namespace ockpt

#endif  // OCKPT_LIB_CHECKPOINT_WRITE_BEHIND_H_
