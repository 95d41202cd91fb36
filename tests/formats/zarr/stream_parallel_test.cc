// Large chunks streamed into place (ZarrArray::Read with chunks above
// stream_chunks_above, small piece buffers injected): several chunks at once
// on workers into a concurrent writer, one chunk with read-ahead and
// write-behind (overlap_io), uncompressed chunks copied file to file
// (ArrayWriter::CopyFromFile), and saves of chunks above the save's stream
// threshold. Every path gives the bytes of the whole-chunk path; damage is
// kDataLoss naming the chunk.

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "formats/zarr/chunk_layout.h"
#include "formats/zarr/zarr_array.h"
#include "formats/zarr/zarr_writer.h"
#include "lib/base/file.h"
#include "lib/compression/compression.h"
#include "tests/formats/zarr/zarr_test_util.h"
#include "tests/support/temp_dir.h"

namespace ockpt::zarr {
namespace {

using testing::MemoryKvStore;

// Incompressible enough that a zstd frame of a few MiB stays above a MiB.
Bytes Values(size_t n, uint32_t seed) {
  Bytes data(n, '\0');
  uint32_t x = seed;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    data[i] = static_cast<char>((i % 64 < 40) ? (i >> 6) : (x >> 24));
  }
  return data;
}

std::string V2Metadata(const char* dtype, const char* compressor, const std::string& shape,
                       const std::string& chunks) {
  return fmt::format(
      R"({{"chunks":{},"compressor":{},"dtype":"{}","fill_value":null,"filters":null,)"
      R"("order":"C","shape":{},"zarr_format":2}})",
      chunks, compressor, dtype, shape);
}

// Thread-safe: checks that pieces never overlap and cover the array;
// remembers the writing threads and the file copies.
class ConcurrentWriter final : public ArrayWriter {
 public:
  explicit ConcurrentWriter(uint64_t size, bool copies = false)
      : data_(size, '\0'), written_(size, false), copies_(copies) {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    std::lock_guard lock(mu_);
    OCKPT_RETURN_IF_ERROR(Mark(offset, data.size()));
    data_.replace(offset, data.size(), data);
    threads_.insert(std::this_thread::get_id());
    offsets.push_back(offset);
    ++writes_;
    return Status::Ok();
  }
  bool concurrent() const override { return true; }
  // With `copies`: reads the range from the file (as copy_file_range would
  // copy it) and counts the call.
  Status CopyFromFile(uint64_t offset, const RandomAccessFile& src, uint64_t src_offset,
                      uint64_t n) override {
    if (!copies_) return ArrayWriter::CopyFromFile(offset, src, src_offset, n);
    Bytes piece(n, '\0');
    OCKPT_RETURN_IF_ERROR(src.ReadInto(src_offset, n, piece.data()));
    std::lock_guard lock(mu_);
    OCKPT_RETURN_IF_ERROR(Mark(offset, n));
    data_.replace(offset, n, piece);
    ++file_copies_;
    return Status::Ok();
  }
  bool Complete() const {
    for (bool w : written_) {
      if (!w) return false;
    }
    return true;
  }
  const Bytes& data() const { return data_; }
  size_t thread_count() const { return threads_.size(); }
  bool wrote_from(std::thread::id id) const { return threads_.count(id) > 0; }
  size_t writes() const { return writes_; }
  size_t file_copies() const { return file_copies_; }

  std::vector<uint64_t> offsets;  // of WriteAt calls, in call order

 private:
  Status Mark(uint64_t offset, uint64_t n) {
    if (offset > data_.size() || n > data_.size() - offset) {
      return InternalError("write of {} bytes at {} outside {}", n, offset, data_.size());
    }
    for (uint64_t i = 0; i < n; ++i) {
      if (written_[offset + i]) return InternalError("overlapping write at {}", offset + i);
      written_[offset + i] = true;
    }
    return Status::Ok();
  }
  std::mutex mu_;
  Bytes data_;
  std::vector<bool> written_;
  bool copies_;
  std::set<std::thread::id> threads_;
  size_t writes_ = 0, file_copies_ = 0;
};

// 203 rows of 1000 int32 (4000 bytes a row) in chunks of 16 rows: 13
// chunks, the last one partial; chunk 5 missing (fill value, zeros).
struct Fixture {
  static constexpr int kRows = 203, kChunkRows = 16, kChunks = 13, kRowBytes = 4000;
  MemoryKvStore store;
  Bytes want;
  explicit Fixture(bool compressed) {
    want = Values(size_t{kRows} * kRowBytes, 7);
    store.values[".zarray"] = V2Metadata("<i4", compressed ? R"({"id":"zstd","level":1})" : "null",
                                         "[203,1000]", "[16,1000]");
    for (int c = 0; c < kChunks; ++c) {
      Bytes chunk(size_t{kChunkRows} * kRowBytes, '\0');
      const size_t rows = std::min(kChunkRows, kRows - c * kChunkRows);
      std::memcpy(chunk.data(), want.data() + static_cast<size_t>(c) * kChunkRows * kRowBytes,
                  rows * kRowBytes);
      if (c == 5) continue;
      store.values[fmt::format("{}.0", c)] = compressed ? *ZstdCompress(chunk, 1) : chunk;
    }
    std::memset(want.data() + size_t{5} * kChunkRows * kRowBytes, 0,
                size_t{kChunkRows} * kRowBytes);
  }
};

ReadOptions Streamed(int threads) {
  ReadOptions o;
  o.threads = threads;
  o.stream_chunks_above = 0;    // every chunk is "large"
  o.stream_piece_bytes = 1000;  // pieces of 250 elements
  return o;
}

TEST_CASE("large chunks stream into place on several workers at once") {
  for (bool compressed : {true, false}) {
    INFO((compressed ? "zstd" : "uncompressed"));
    Fixture f(compressed);
    auto a = ZarrArray::Open(&f.store, "");
    REQUIRE(a.ok());
    REQUIRE(a->StreamsChunks(Streamed(4)));
    for (int threads : {1, 2, 4}) {
      INFO("threads " << threads);
      ConcurrentWriter w(f.want.size());
      REQUIRE(a->Read(w, Streamed(threads)).ok());
      CHECK(w.Complete());
      CHECK(w.data() == f.want);
      // Pieces of at most stream_piece_bytes (x4 uncompressed).
      CHECK(w.writes() >= f.want.size() / (compressed ? 1000 : 4000));
      if (threads == 1) CHECK(w.thread_count() == 1);
    }
    // A writer that is not concurrent gets the chunks one by one.
    testing::RecordingWriter serial(f.want.size());
    REQUIRE(a->Read(serial, Streamed(4)).ok());
    CHECK(serial.data() == f.want);
  }
}

TEST_CASE("parallel streamed chunks: damage and missing chunks fail naming the chunk") {
  Fixture f(true);
  // Chunk 9 decodes to one row too few.
  f.store.values["9.0"] = *ZstdCompress(Bytes(15 * 4000, '\x01'), 1);
  auto a = ZarrArray::Open(&f.store, "");
  REQUIRE(a.ok());
  ConcurrentWriter w(f.want.size());
  Status st = a->Read(w, Streamed(3));
  CHECK(st.code() == StatusCode::kDataLoss);
  CHECK(st.message().find("'9.0'") != std::string::npos);

  Fixture g(true);
  auto b = ZarrArray::Open(&g.store, "");
  REQUIRE(b.ok());
  ReadOptions strict = Streamed(3);
  strict.missing_chunks_are_errors = true;
  ConcurrentWriter w2(g.want.size());
  st = b->Read(w2, strict);
  CHECK(st.code() == StatusCode::kDataLoss);
  CHECK(st.message().find("'5.0'") != std::string::npos);
}

TEST_CASE("large tiles (chunks not spanning the trailing dimensions) stream run by run") {
  // 37 x 50 x 3 int16 in chunks of 8 x 12 x 2: every chunk is many runs,
  // edge chunks are partial in every dimension; chunk 1.2.0 is missing.
  for (bool big_endian : {false, true}) {
    INFO((big_endian ? ">i2" : "<i2"));
    const Bytes want_values = Values(37 * 50 * 3 * 2, 5);
    MemoryKvStore store;
    store.values[".zarray"] = V2Metadata(big_endian ? ">i2" : "<i2", R"({"id":"zstd","level":1})",
                                         "[37,50,3]", "[8,12,2]");
    Bytes want = want_values;
    for (int a = 0; a < 5; ++a) {
      for (int b = 0; b < 5; ++b) {
        for (int c = 0; c < 2; ++c) {
          Bytes chunk(8 * 12 * 2 * 2, '\0');
          for (int i = 0; i < 8; ++i) {
            for (int j = 0; j < 12; ++j) {
              for (int k = 0; k < 2; ++k) {
                const int x = a * 8 + i, y = b * 12 + j, z = c * 2 + k;
                if (x >= 37 || y >= 50 || z >= 3) continue;
                const size_t from = ((size_t(x) * 50 + y) * 3 + z) * 2;
                const size_t to = ((size_t(i) * 12 + j) * 2 + k) * 2;
                chunk[to] = want_values[from + (big_endian ? 1 : 0)];
                chunk[to + 1] = want_values[from + (big_endian ? 0 : 1)];
                if (a == 1 && b == 2 && c == 0) {
                  want[from] = 0;
                  want[from + 1] = 0;
                }
              }
            }
          }
          if (a == 1 && b == 2 && c == 0) continue;
          store.values[fmt::format("{}.{}.{}", a, b, c)] = *ZstdCompress(chunk, 1);
        }
      }
    }
    auto arr = ZarrArray::Open(&store, "");
    REQUIRE(arr.ok());
    CHECK_FALSE(arr->CanStreamChunks());
    ReadOptions whole;
    whole.stream_chunks_above = uint64_t{1} << 62;
    CHECK_FALSE(arr->ReadStreamsChunks(whole));
    Result<Bytes> w = testing::ReadAll(*arr, whole);
    REQUIRE(w.ok());
    REQUIRE(*w == want);
    for (size_t piece : {2, 10, 64, 1 << 20}) {
      INFO("piece " << piece);
      ReadOptions o = Streamed(1);
      o.stream_piece_bytes = piece;
      CHECK(arr->ReadStreamsChunks(o));
      Result<Bytes> s1 = testing::ReadAll(*arr, o);
      REQUIRE(s1.ok());
      CHECK(*s1 == want);
      o.threads = 3;
      ConcurrentWriter cw(want.size());
      REQUIRE(arr->Read(cw, o).ok());
      CHECK(cw.Complete());
      CHECK(cw.data() == want);
    }
    // A tile one element short is kDataLoss naming it.
    MemoryKvStore bad = store;
    bad.values["2.1.1"] = *ZstdCompress(Bytes(8 * 12 * 2 * 2 - 2, '\1'), 1);
    auto b = ZarrArray::Open(&bad, "");
    REQUIRE(b.ok());
    ConcurrentWriter cw(want.size());
    Status st = b->Read(cw, Streamed(2));
    CHECK(st.code() == StatusCode::kDataLoss);
    CHECK(st.message().find("'2.1.1'") != std::string::npos);
  }
}

TEST_CASE("one large frame: read-ahead and write-behind give the same bytes") {
  // One chunk of 3 MiB whose zstd frame is above the decoder's 256 KiB
  // input buffer, so reading ahead runs; small pieces written behind.
  const size_t rows = 768, row_bytes = 4096;
  Bytes want = Values(rows * row_bytes, 11);
  MemoryKvStore store;
  store.values[".zarray"] =
      V2Metadata("<u4", R"({"id":"zstd","level":1})", "[768,1024]", "[768,1024]");
  store.values["0.0"] = *ZstdCompress(want, 1);
  REQUIRE(store.values["0.0"].size() > (size_t{1} << 20));
  auto a = ZarrArray::Open(&store, "");
  REQUIRE(a.ok());
  ReadOptions o = Streamed(1);
  o.overlap_io = true;
  o.stream_piece_bytes = 4096 * 3;
  {
    ConcurrentWriter w(want.size());
    REQUIRE(a->Read(w, o).ok());
    CHECK(w.Complete());
    CHECK(w.data() == want);
    CHECK(w.offsets.size() == (want.size() + 4096 * 3 - 1) / (4096 * 3));
    // In increasing offsets, from the one writer thread.
    for (size_t i = 1; i < w.offsets.size(); ++i) CHECK(w.offsets[i] > w.offsets[i - 1]);
    CHECK(w.thread_count() == 1);
    CHECK_FALSE(w.wrote_from(std::this_thread::get_id()));
  }
  // A writer that is not concurrent() is written from the calling thread.
  {
    testing::RecordingWriter w(want.size());
    REQUIRE(a->Read(w, o).ok());
    CHECK(w.data() == want);
  }
  // Threads != 1 with one chunk: Read turns overlap on by itself.
  {
    ConcurrentWriter w(want.size());
    REQUIRE(a->Read(w, Streamed(2)).ok());
    CHECK(w.data() == want);
    CHECK(w.thread_count() == 1);  // the write-behind thread
    CHECK_FALSE(w.wrote_from(std::this_thread::get_id()));
  }
  // A truncated frame and a failing writer are errors, not hangs.
  {
    MemoryKvStore bad = store;
    bad.values["0.0"].resize(bad.values["0.0"].size() - 1000);
    auto b = ZarrArray::Open(&bad, "");
    REQUIRE(b.ok());
    ConcurrentWriter w(want.size());
    Status st = b->Read(w, o);
    CHECK(st.code() == StatusCode::kDataLoss);
    CHECK(st.message().find("'0.0'") != std::string::npos);
  }
  {
    ConcurrentWriter small(want.size() - 1);  // the last piece falls outside
    Status st = a->Read(small, o);
    CHECK(st.code() == StatusCode::kInternal);
  }
}

TEST_CASE("uncompressed chunks in files are copied file to file") {
  ockpt::testing::TempDir dir;
  REQUIRE(!dir.path().empty());
  Fixture f(false);
  for (const auto& [key, value] : f.store.values) REQUIRE(WriteFile(dir / key, value).ok());
  FileKvStore files(dir.path());
  auto a = ZarrArray::Open(&files, "");
  REQUIRE(a.ok());
  for (int threads : {1, 3}) {
    // A writer that takes copies gets one per stored chunk (the missing
    // one is written as fill).
    ConcurrentWriter copying(f.want.size(), /*copies=*/true);
    REQUIRE(a->Read(copying, Streamed(threads)).ok());
    CHECK(copying.Complete());
    CHECK(copying.data() == f.want);
    CHECK(copying.file_copies() == Fixture::kChunks - 1);
    // One that cannot falls back to reads and writes.
    ConcurrentWriter plain(f.want.size());
    REQUIRE(a->Read(plain, Streamed(threads)).ok());
    CHECK(plain.data() == f.want);
    CHECK(plain.file_copies() == 0);
  }
  // The real copy_file_range into a file, at an offset.
  Bytes chunk = f.store.values["3.0"];
  auto src = RandomAccessFile::Open(dir / "3.0");
  REQUIRE(src.ok());
  auto out = WritableFile::Create(dir / "out");
  REQUIRE(out.ok());
  // Offsets at different places within a page: left to the caller (the
  // kernel's copy is slower there), nothing written.
  CHECK(out->CopyFrom(100, *src, 1000, 5000).code() == StatusCode::kUnimplemented);
  const uint64_t at = 4096 + 1000;  // 1000 within a page, as the source
  REQUIRE(out->Truncate(at + 5000).ok());
  Status st = out->CopyFrom(at, *src, 1000, 5000);
  if (st.code() == StatusCode::kUnimplemented) {
    WARN("copy_file_range not available here: " << st.message());
  } else {
    REQUIRE(st.ok());
    REQUIRE(out->Close().ok());
    auto back = ReadFile(dir / "out");
    REQUIRE(back.ok());
    CHECK(back->substr(0, at) == Bytes(at, '\0'));
    CHECK(back->substr(at) == chunk.substr(1000, 5000));
    // Past the source's end: kDataLoss.
    auto again = WritableFile::Create(dir / "out2");
    REQUIRE(again.ok());
    CHECK(again->CopyFrom((chunk.size() - 10) % 4096, *src, chunk.size() - 10, 20).code() ==
          StatusCode::kDataLoss);
  }
}

TEST_CASE("one uncompressed chunk read alone is copied in parts on every thread") {
  ockpt::testing::TempDir dir;
  REQUIRE(!dir.path().empty());
  // 203 rows of 4000 bytes in one chunk of 256 rows (the edge padding is
  // stored, not copied).
  Bytes want = Values(size_t{203} * 4000, 11);
  Bytes chunk = want + Bytes(size_t{53} * 4000, '\0');
  REQUIRE(WriteFile(dir / ".zarray", V2Metadata("<i4", "null", "[203,1000]", "[256,1000]")).ok());
  REQUIRE(WriteFile(dir / "0.0", chunk).ok());
  FileKvStore files(dir.path());
  auto a = ZarrArray::Open(&files, "");
  REQUIRE(a.ok());
  for (int threads : {1, 2, 3}) {
    ReadOptions o = Streamed(threads);
    o.stream_piece_bytes = 10000;  // 40,000-byte pieces: 21 of them
    ConcurrentWriter w(want.size());
    REQUIRE(a->Read(w, o).ok());
    CHECK(w.Complete());
    CHECK(w.data() == want);
    CHECK(w.writes() == 21);
    // With threads > 1 the parts go to workers (which of them takes which
    // part is up to the scheduler).
    CHECK(w.thread_count() <= static_cast<size_t>(threads));
    CHECK(w.wrote_from(std::this_thread::get_id()) == (threads == 1));
  }
  // RandomAccessFile::ReadTo (what remote objects stream through) on a
  // local file: the range, in order, offsets from its start.
  {
    auto file = RandomAccessFile::Open(dir / "0.0");
    REQUIRE(file.ok());
    Bytes got;
    REQUIRE(file->ReadTo(1000, 600000, [&got](uint64_t off, ByteView data) {
                  if (off != got.size()) return InternalError("piece at {}", off);
                  got.append(data);
                  return Status::Ok();
                }).ok());
    CHECK(got == chunk.substr(1000, 600000));
    CHECK(file->ReadTo(chunk.size() - 10, 20, [](uint64_t, ByteView) { return Status::Ok(); })
              .code() == StatusCode::kDataLoss);
  }
  // A data file shorter than the chunk: kDataLoss naming the chunk.
  REQUIRE(WriteFile(dir / "0.0", chunk.substr(0, 500000)).ok());
  ConcurrentWriter w(want.size());
  Status st = a->Read(w, Streamed(2));
  CHECK(st.code() == StatusCode::kDataLoss);
  CHECK(st.message().find("0.0") != std::string::npos);
}

TEST_CASE("saves stream chunks above 16 MiB by default and read back exactly") {
  // 17 MiB chunks: above WriteOptions' default stream threshold.
  WriteSpec spec;
  spec.dtype = DType::kUInt8;
  spec.shape = {40, 1 << 20};
  spec.chunk_shape = {17, 1 << 20};
  spec.zstd_level = 1;
  Bytes src_bytes = Values(size_t{40} << 20, 3);
  MemoryKvStore store;
  int streamed = 0;
  ValueSink sink;
  sink.put = [&](const std::string& key, ByteView value) {
    store.values[key] = Bytes(value);
    return Status::Ok();
  };
  sink.put_streamed = [&](const std::string& key, uint64_t,
                          const std::function<Status(const ValueSink::Append&)>& produce) {
    ++streamed;
    Bytes value;
    OCKPT_RETURN_IF_ERROR(produce([&](ByteView piece) {
      value.append(piece.data(), piece.size());
      return Status::Ok();
    }));
    store.values[key] = std::move(value);
    return Status::Ok();
  };
  ArrayToWrite array;
  array.spec = spec;
  array.name = "x";
  array.open = [&]() -> Result<std::unique_ptr<ArraySource>> {
    return std::unique_ptr<ArraySource>(new MemoryArraySource(src_bytes));
  };
  WriteOptions wo;
  wo.threads = 2;
  REQUIRE(WriteArrays({array}, sink, wo).ok());
  CHECK(streamed == 3);
  auto a = ZarrArray::Open(&store, "");
  REQUIRE(a.ok());
  ReadOptions ro;
  ro.threads = 2;
  ConcurrentWriter w(src_bytes.size());
  REQUIRE(a->Read(w, ro).ok());  // streamed too: 17 MiB chunks, 2 workers
  CHECK(w.data() == src_bytes);
}

// A source in memory that allows reads from several threads at once.
class SharedMemorySource final : public ArraySource {
 public:
  explicit SharedMemorySource(const Bytes& data) : data_(data) {}
  uint64_t size() const override { return data_.size(); }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset > data_.size() || n > data_.size() - offset) return InternalError("out of range");
    std::memcpy(dst, data_.data() + offset, n);
    return Status::Ok();
  }
  bool concurrent() const override { return true; }

 private:
  const Bytes& data_;
};

TEST_CASE("streamed chunks of a many-chunk array are encoded side by side, the same with any thread count") {
  WriteSpec spec;
  spec.dtype = DType::kUInt8;
  // Chunks of 3 MiB: more than one of zstd's jobs (2 MiB at level 1) each.
  spec.shape = {24, 1 << 20};
  spec.chunk_shape = {3, 1 << 20};  // 8 chunks
  spec.zstd_level = 1;
  spec.zstd_checksum = true;
  WriteSpec few = spec;
  few.chunk_shape = {12, 1 << 20};  // 2 chunks
  CHECK(StreamsSideBySide(spec, true));
  CHECK_FALSE(StreamsSideBySide(spec, false));
  CHECK_FALSE(StreamsSideBySide(few, true));
  // zstd's own workers: at least one always (the frame is then the same
  // for any count), at most two per chunk side by side.
  CHECK(StreamFrameWorkers(spec, true, 4) == kSideBySideFrameWorkers);
  CHECK(StreamFrameWorkers(spec, true, 1) == 1);
  CHECK(StreamFrameWorkers(spec, false, 4) == 4);
  CHECK(StreamFrameWorkers(few, true, 4) == 4);
  CHECK(StreamFrameWorkers(few, true, 1) == 1);
  const Bytes src_bytes = Values(size_t{24} << 20, 11);

  struct Run {
    std::map<std::string, Bytes> values;
    int max_streams = 0;  // streamed values being produced at once, at most
  };
  auto save = [&](const WriteSpec& s, int threads, bool side_by_side, bool concurrent_source) {
    Run run;
    std::mutex mu;
    std::condition_variable started;
    int streams = 0, finished = 0;
    const bool wait_for_second =
        side_by_side && concurrent_source && threads > 1 && NumChunks(ChunkGridShape(s)) >= 4;
    ValueSink sink;
    sink.streams_side_by_side = side_by_side;
    sink.put = [&](const std::string& key, ByteView value) {
      std::lock_guard<std::mutex> lock(mu);
      run.values[key] = Bytes(value);
      return Status::Ok();
    };
    sink.put_streamed = [&](const std::string& key, uint64_t,
                            const std::function<Status(const ValueSink::Append&)>& produce) {
      {
        std::unique_lock<std::mutex> lock(mu);
        run.max_streams = std::max(run.max_streams, ++streams);
        started.notify_all();
        // Where chunks go side by side, the first one waits for a second
        // to start beside it (bounded, so a serial writer only shows up as
        // max_streams == 1).
        if (wait_for_second && finished == 0) {
          started.wait_for(lock, std::chrono::seconds(10), [&] { return streams >= 2; });
        }
      }
      Bytes value;
      Status st = produce([&](ByteView piece) {
        std::this_thread::yield();
        value.append(piece.data(), piece.size());
        return Status::Ok();
      });
      std::lock_guard<std::mutex> lock(mu);
      --streams;
      ++finished;
      OCKPT_RETURN_IF_ERROR(st);
      run.values[key] = std::move(value);
      return Status::Ok();
    };
    ArrayToWrite array;
    array.spec = s;
    array.name = "x";
    array.open = [&]() -> Result<std::unique_ptr<ArraySource>> {
      if (concurrent_source) return std::unique_ptr<ArraySource>(new SharedMemorySource(src_bytes));
      return std::unique_ptr<ArraySource>(new MemoryArraySource(src_bytes));
    };
    WriteOptions wo;
    wo.threads = threads;
    wo.stream_chunks_above = 0;  // every chunk streams
    REQUIRE(WriteArrays({array}, sink, wo).ok());
    return run;
  };
  auto read_back = [&](const std::map<std::string, Bytes>& values) {
    MemoryKvStore store;
    for (const auto& [k, v] : values) store.values[k] = v;
    auto a = ZarrArray::Open(&store, "");
    REQUIRE(a.ok());
    ConcurrentWriter w(src_bytes.size());
    REQUIRE(a->Read(w, Streamed(2)).ok());
    return w.data() == src_bytes;
  };
  for (const WriteSpec& s : {spec, few}) {
    INFO("chunks " << NumChunks(ChunkGridShape(s)));
    Run one = save(s, 1, true, true);
    Run four = save(s, 4, true, true);
    CHECK(one.values.size() == NumChunks(ChunkGridShape(s)) + 1);  // + .zarray
    CHECK(one.values == four.values);
    CHECK(one.max_streams == 1);
    // 8 chunks: side by side; 2: one at a time, zstd's workers on it.
    if (NumChunks(ChunkGridShape(s)) >= 4) {
      CHECK(four.max_streams >= 2);
    } else {
      CHECK(four.max_streams == 1);
    }
    CHECK(read_back(four.values));
    // A sink or source that does not allow it: one chunk at a time.
    for (auto [side_by_side, concurrent_source] : {std::pair{false, true}, std::pair{true, false}}) {
      Run serial = save(s, 4, side_by_side, concurrent_source);
      CHECK(serial.max_streams == 1);
      CHECK(read_back(serial.values));
      CHECK(serial.values == save(s, 1, side_by_side, concurrent_source).values);
      // The same bytes as side by side: every frame is zstd's
      // multi-worker frame.
      CHECK(serial.values == one.values);
    }
  }
}

}  // namespace
}  // namespace ockpt::zarr
