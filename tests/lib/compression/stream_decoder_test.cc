// StreamDecoder: piecewise decoding equals one-shot decoding; truncation,
// trailing bytes and corruption are kDataLoss.

#include "lib/compression/stream_decoder.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>

#include "lib/compression/compression.h"

namespace ockpt {
namespace {

Bytes TestData(size_t n) {
  Bytes data(n, '\0');
  uint32_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    data[i] = static_cast<char>((i % 97 < 60) ? (i / 13) : (x >> 24));
  }
  return data;
}

Result<std::unique_ptr<StreamDecoder>> Open(StreamDecoder::Codec codec, const Bytes& input) {
  return StreamDecoder::Create(codec, input.size(), [&input](uint64_t off, size_t n, char* dst) {
    if (off > input.size() || n > input.size() - off) return DataLossError("read past the input");
    std::memcpy(dst, input.data() + off, n);
    return Status::Ok();
  });
}

// Decodes everything in pieces of `piece` bytes.
Result<Bytes> DecodeAll(StreamDecoder::Codec codec, const Bytes& input, size_t piece) {
  OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<StreamDecoder> d, Open(codec, input));
  Bytes out;
  Bytes buf(piece, '\0');
  while (true) {
    OCKPT_ASSIGN_OR_RETURN(size_t n, d->Read(buf.data(), buf.size()));
    out.append(buf.data(), n);
    if (n < piece) break;
  }
  OCKPT_ASSIGN_OR_RETURN(size_t more, d->Read(buf.data(), 1));
  if (more != 0) return InternalError("bytes after the end");
  if (d->position() != out.size()) return InternalError("position {} != {}", d->position(), out.size());
  return out;
}

Bytes Encode(StreamDecoder::Codec codec, const Bytes& data) {
  switch (codec) {
    case StreamDecoder::Codec::kZstd: return *ZstdCompress(data, 1);
    case StreamDecoder::Codec::kZlib: return *ZlibCompress(data, 1, false);
    case StreamDecoder::Codec::kGzip: return *ZlibCompress(data, 1, true);
    case StreamDecoder::Codec::kNone: return data;
  }
  return data;
}

const StreamDecoder::Codec kCodecs[] = {StreamDecoder::Codec::kNone, StreamDecoder::Codec::kZstd,
                                        StreamDecoder::Codec::kZlib, StreamDecoder::Codec::kGzip};

TEST_CASE("StreamDecoder: any piece size gives the one-shot bytes") {
  const Bytes data = TestData(3 * 1000 * 1000 + 17);  // several input buffers
  for (auto codec : kCodecs) {
    const Bytes encoded = Encode(codec, data);
    for (size_t piece : {size_t{1} << 20, size_t{4096}, size_t{4093}}) {
      INFO("codec " << static_cast<int>(codec) << " piece " << piece);
      Result<Bytes> out = DecodeAll(codec, encoded, piece);
      REQUIRE(out.ok());
      CHECK(*out == data);
    }
  }
}

TEST_CASE("StreamDecoder: Skip passes over bytes") {
  const Bytes data = TestData(500000);
  for (auto codec : kCodecs) {
    const Bytes encoded = Encode(codec, data);
    auto d = Open(codec, encoded);
    REQUIRE(d.ok());
    auto skipped = (*d)->Skip(123457);
    REQUIRE(skipped.ok());
    CHECK(*skipped == 123457);
    Bytes buf(1000, '\0');
    REQUIRE((*d)->Read(buf.data(), buf.size()).ok());
    CHECK(buf == data.substr(123457, 1000));
    auto rest = (*d)->Skip(uint64_t{1} << 40);
    REQUIRE(rest.ok());
    CHECK(*rest == data.size() - 124457);
    CHECK((*d)->position() == data.size());
  }
}

TEST_CASE("StreamDecoder: truncated, trailing and corrupt input are kDataLoss") {
  const Bytes data = TestData(300000);
  for (auto codec : {StreamDecoder::Codec::kZstd, StreamDecoder::Codec::kZlib,
                     StreamDecoder::Codec::kGzip}) {
    INFO("codec " << static_cast<int>(codec));
    const Bytes encoded = Encode(codec, data);
    CHECK(DecodeAll(codec, encoded.substr(0, encoded.size() - 5), 65536).status().code() ==
          StatusCode::kDataLoss);
    CHECK(DecodeAll(codec, encoded + "x", 65536).status().code() == StatusCode::kDataLoss);
    CHECK(DecodeAll(codec, Bytes(), 65536).status().code() == StatusCode::kDataLoss);
    Bytes bad = encoded;
    bad[encoded.size() / 2] ^= 0x5a;
    Result<Bytes> out = DecodeAll(codec, bad, 65536);
    // zstd frames without a checksum may decode damage to other bytes; it
    // is never mistaken for the original.
    CHECK((!out.ok() || *out != data));
    // The failure sticks.
    auto d = Open(codec, encoded.substr(0, 100));
    REQUIRE(d.ok());
    Bytes buf(data.size(), '\0');
    CHECK_FALSE((*d)->Read(buf.data(), buf.size()).ok());
    CHECK_FALSE((*d)->Read(buf.data(), 1).ok());
  }
}

TEST_CASE("StreamDecoder with read-ahead: same bytes, errors of the reads and of the stream") {
  // Input of several read-ahead blocks (MiB), so the reading thread cycles
  // through its buffers many times.
  const Bytes data = TestData(size_t{5} << 20);
  for (auto codec : {StreamDecoder::Codec::kZstd, StreamDecoder::Codec::kZlib,
                     StreamDecoder::Codec::kGzip}) {
    Bytes input;
    if (codec == StreamDecoder::Codec::kZstd) {
      input = *ZstdCompress(data, -5);
    } else {
      input = *ZlibCompress(data, 1, codec == StreamDecoder::Codec::kGzip);
    }
    REQUIRE(input.size() > (size_t{2} << 20));
    auto reads = std::make_shared<std::atomic<uint64_t>>(0);
    auto read = [&input, reads](uint64_t off, size_t n, char* dst) -> Status {
      if (off > input.size() || n > input.size() - off) return DataLossError("read past the input");
      if (off != reads->load()) return InternalError("read-ahead out of order");
      std::memcpy(dst, input.data() + off, n);
      *reads += n;
      return Status::Ok();
    };
    {
      auto d = StreamDecoder::Create(codec, input.size(), read, /*read_ahead=*/true);
      REQUIRE(d.ok());
      Bytes out, buf(4093, '\0');
      while (true) {
        auto n = (*d)->Read(buf.data(), buf.size());
        REQUIRE(n.ok());
        if (*n == 0) break;
        out.append(buf.data(), *n);
      }
      CHECK(out == data);
      CHECK(reads->load() == input.size());
    }
    // A failing read reaches the decoder as that failure.
    {
      auto failing = [&input](uint64_t off, size_t n, char* dst) -> Status {
        if (off >= (size_t{1} << 20)) return DataLossError("disk gone at {}", off);
        std::memcpy(dst, input.data() + off, n);
        return Status::Ok();
      };
      auto d = StreamDecoder::Create(codec, input.size(), failing, true);
      REQUIRE(d.ok());
      Bytes buf(size_t{1} << 20, '\0');
      Status st;
      while (st.ok()) {
        auto n = (*d)->Read(buf.data(), buf.size());
        if (!n.ok()) st = n.status();
        else if (*n == 0) break;
      }
      CHECK(st.code() == StatusCode::kDataLoss);
      CHECK(st.message().find("disk gone") != std::string::npos);
    }
    // Truncated input: kDataLoss, as without read-ahead.
    {
      Bytes cut = input.substr(0, input.size() - 100);
      auto d = StreamDecoder::Create(
          codec, cut.size(),
          [&cut](uint64_t off, size_t n, char* dst) {
            std::memcpy(dst, cut.data() + off, n);
            return Status::Ok();
          },
          true);
      REQUIRE(d.ok());
      Bytes buf(size_t{1} << 20, '\0');
      Status st;
      while (st.ok()) {
        auto n = (*d)->Read(buf.data(), buf.size());
        if (!n.ok()) st = n.status();
        else if (*n == 0) break;
      }
      CHECK(st.code() == StatusCode::kDataLoss);
    }
    // Dropped half way: the reading thread stops.
    {
      *reads = 0;
      auto d = StreamDecoder::Create(codec, input.size(), read, true);
      REQUIRE(d.ok());
      Bytes buf(1000, '\0');
      CHECK((*d)->Read(buf.data(), buf.size()).ok());
    }
  }
}

TEST_CASE("StreamDecoder with streamed input: one read, any piece sizes, errors, early stop") {
  const Bytes data = TestData(size_t{24} << 20);
  for (auto codec : {StreamDecoder::Codec::kZstd, StreamDecoder::Codec::kZlib,
                     StreamDecoder::Codec::kGzip}) {
    const Bytes input = codec == StreamDecoder::Codec::kZstd
                            ? *ZstdCompress(data, -5)
                            : *ZlibCompress(data, 1, codec == StreamDecoder::Codec::kGzip);
    REQUIRE(input.size() > (size_t{9} << 20));  // more than the 8 MiB of blocks
    auto no_reads = [](uint64_t, size_t, char*) -> Status {
      return InternalError("a block read where the input is streamed");
    };
    // Delivers [off, off + n) in pieces of 1 to ~300 KB, like a socket;
    // `fail_at`: an error once that many bytes went out; `sent`: bytes out.
    auto streamer = [&input](uint64_t fail_at, std::shared_ptr<std::atomic<uint64_t>> sent,
                             std::shared_ptr<std::atomic<int>> calls) {
      return [&input, fail_at, sent, calls](uint64_t off, uint64_t n,
                                            const ByteRangeSink& sink) -> Status {
        ++*calls;
        uint32_t x = 7;
        for (uint64_t at = 0; at < n;) {
          if (off + at >= fail_at) return IoError("connection reset at {}", off + at);
          x = x * 1103515245u + 12345u;
          const uint64_t len = std::min<uint64_t>(n - at, 1 + (x >> 8) % 300000);
          OCKPT_RETURN_IF_ERROR(sink(at, ByteView(input.data() + off + at, len)));
          at += len;
          *sent += len;
        }
        return Status::Ok();
      };
    };
    auto drain = [](StreamDecoder& d, Bytes* out) -> Status {
      Bytes buf(size_t{1} << 20, '\0');
      while (true) {
        OCKPT_ASSIGN_OR_RETURN(size_t n, d.Read(buf.data(), buf.size()));
        if (n == 0) return Status::Ok();
        out->append(buf.data(), n);
      }
    };
    for (bool read_ahead : {false, true}) {
      auto sent = std::make_shared<std::atomic<uint64_t>>(0);
      auto calls = std::make_shared<std::atomic<int>>(0);
      auto d = StreamDecoder::Create(codec, input.size(), no_reads, read_ahead,
                                     streamer(~uint64_t{0}, sent, calls));
      REQUIRE(d.ok());
      Bytes out;
      REQUIRE(drain(**d, &out).ok());
      CHECK(out == data);
      CHECK(calls->load() == 1);  // the whole input in one streamed read
      CHECK(sent->load() == input.size());
    }
    {  // The stream fails half way: that failure.
      auto sent = std::make_shared<std::atomic<uint64_t>>(0);
      auto calls = std::make_shared<std::atomic<int>>(0);
      auto d = StreamDecoder::Create(codec, input.size(), no_reads, false,
                                     streamer(input.size() / 2, sent, calls));
      REQUIRE(d.ok());
      Bytes out;
      Status st = drain(**d, &out);
      CHECK(st.code() == StatusCode::kIoError);
      CHECK(st.message().find("connection reset") != std::string::npos);
    }
    {  // The stream ends early without an error: kDataLoss.
      auto d = StreamDecoder::Create(
          codec, input.size(), no_reads, false,
          [&input](uint64_t, uint64_t n, const ByteRangeSink& sink) {
            return sink(0, ByteView(input.data(), n - 100));
          });
      REQUIRE(d.ok());
      Bytes out;
      CHECK(drain(**d, &out).code() == StatusCode::kDataLoss);
    }
    {  // Dropped after the first bytes: the transfer is stopped, not drained.
      auto sent = std::make_shared<std::atomic<uint64_t>>(0);
      auto calls = std::make_shared<std::atomic<int>>(0);
      {
        auto d = StreamDecoder::Create(codec, input.size(), no_reads, false,
                                       streamer(~uint64_t{0}, sent, calls));
        REQUIRE(d.ok());
        Bytes buf(1000, '\0');
        CHECK((*d)->Read(buf.data(), buf.size()).ok());
      }
      CHECK(sent->load() < input.size());
    }
  }
}

TEST_CASE("ZstdStreamEncoder: the same frame on every run when the input ends at a job's end") {
  // 12 MiB in 1 MiB pieces: zstd's jobs at level 1 are 2 MiB, so the input
  // before the last piece ends exactly at a job's end. Given to Write, the
  // last piece would make the frame depend on how busy the workers were
  // (an empty last block or none); given to Finish, it never does.
  const Bytes data = TestData(size_t{12} << 20);
  const size_t piece = size_t{1} << 20;
  auto encode = [&](int threads) {
    auto e = ZstdStreamEncoder::Create(1, data.size(), threads, /*checksum=*/true);
    REQUIRE(e.ok());
    Bytes out;
    auto append = [&](ByteView p) {
      out.append(p.data(), p.size());
      return Status::Ok();
    };
    for (size_t pos = 0; pos + piece < data.size(); pos += piece) {
      REQUIRE((*e)->Write(ByteView(data).substr(pos, piece), append).ok());
    }
    REQUIRE((*e)->Finish(ByteView(data).substr(data.size() - piece), append).ok());
    return out;
  };
  const Bytes first = encode(1);
  REQUIRE(ZstdDecompress(first, data.size()).ok());
  CHECK(*ZstdDecompress(first, data.size()) == data);
  for (int run = 0; run < 12; ++run) {
    for (int threads : {1, 2, 4}) {
      INFO("run " << run << ", " << threads << " workers");
      CHECK(encode(threads) == first);
    }
  }
}

TEST_CASE("ZstdStreamEncoder: a thread's reused context carries nothing from frame to frame") {
  // With workers, the context (its workers and buffers) goes back to the
  // thread for its next encoder. Other levels, no checksum, an abandoned
  // frame and two encoders alive at once on the thread change nothing in
  // the next frame, which is also the frame a new thread makes.
  const Bytes data = TestData(size_t{3} << 20);
  auto encode = [&](int level, int threads, bool checksum, size_t give) -> Result<Bytes> {
    OCKPT_ASSIGN_OR_RETURN(auto e, ZstdStreamEncoder::Create(level, data.size(), threads, checksum));
    Bytes out;
    auto append = [&](ByteView p) {
      out.append(p.data(), p.size());
      return Status::Ok();
    };
    OCKPT_RETURN_IF_ERROR(e->Write(ByteView(data).substr(0, give / 2), append));
    OCKPT_RETURN_IF_ERROR(e->Finish(ByteView(data).substr(give / 2, give - give / 2), append));
    return out;
  };
  Bytes fresh;
  std::thread([&] { fresh = encode(1, 2, true, data.size()).value(); }).join();
  REQUIRE(ZstdDecompress(fresh, data.size()).ok());
  CHECK(*ZstdDecompress(fresh, data.size()) == data);
  CHECK(encode(1, 2, true, data.size()).value() == fresh);
  const Bytes level3 = encode(3, 1, false, data.size()).value();
  CHECK(level3 != fresh);
  CHECK(*ZstdDecompress(level3, data.size()) == data);
  CHECK(encode(1, 2, true, data.size()).value() == fresh);
  CHECK_FALSE(encode(1, 2, true, data.size() - 1000).ok());  // abandoned mid-frame
  CHECK(encode(1, 2, true, data.size()).value() == fresh);
  {
    auto held = ZstdStreamEncoder::Create(5, data.size(), 2);  // holds the thread's context
    REQUIRE(held.ok());
    CHECK(encode(1, 2, true, data.size()).value() == fresh);
  }
  CHECK(encode(1, 2, true, data.size()).value() == fresh);
}

TEST_CASE("ZstdStreamEncoder: pieces make one frame with the content size; any worker count") {
  const Bytes data = TestData(5 * 1000 * 1000 + 3);
  Bytes frames[3];
  int k = 0;
  for (int threads : {0, 1, 2}) {
    auto e = ZstdStreamEncoder::Create(1, data.size(), threads);
    REQUIRE(e.ok());
    Bytes& out = frames[k++];
    auto append = [&](ByteView piece) {
      out.append(piece.data(), piece.size());
      return Status::Ok();
    };
    for (size_t pos = 0; pos < data.size(); pos += 999999) {
      REQUIRE((*e)->Write(ByteView(data).substr(pos, 999999), append).ok());
    }
    REQUIRE((*e)->Finish(ByteView(), append).ok());
    // ZstdDecompress insists on one frame, and on the size its header gives.
    Result<Bytes> back = ZstdDecompress(out, data.size());
    REQUIRE(back.ok());
    CHECK(*back == data);
  }
  CHECK(frames[1] == frames[2]);  // the same frame for 1 and 2 workers
  {
    // With the content checksum: the flag is set, and a damaged frame fails
    // both the one-shot and the streaming decoder.
    auto c = ZstdStreamEncoder::Create(1, data.size(), 0, /*checksum=*/true);
    REQUIRE(c.ok());
    Bytes out;
    auto append = [&](ByteView piece) {
      out.append(piece.data(), piece.size());
      return Status::Ok();
    };
    REQUIRE((*c)->Write(data, append).ok());
    REQUIRE((*c)->Finish(ByteView(), append).ok());
    CHECK((static_cast<uint8_t>(out[4]) & 0x04) != 0);
    CHECK(out.size() == frames[0].size() + 4);
    REQUIRE(ZstdDecompress(out, data.size()).ok());
    Result<Bytes> streamed = DecodeAll(StreamDecoder::Codec::kZstd, out, 4096);
    REQUIRE(streamed.ok());
    CHECK(*streamed == data);
    out[out.size() - 2] ^= 0x01;  // the checksum itself
    CHECK(ZstdDecompress(out, data.size()).status().code() == StatusCode::kDataLoss);
    CHECK_FALSE(DecodeAll(StreamDecoder::Codec::kZstd, out, 4096).ok());
  }
  // Less input than pledged is an error at Finish.
  auto e = ZstdStreamEncoder::Create(1, 100, 0);
  REQUIRE(e.ok());
  auto ignore = [](ByteView) { return Status::Ok(); };
  REQUIRE((*e)->Write(Bytes(50, 'x'), ignore).ok());
  CHECK_FALSE((*e)->Finish(ByteView(), ignore).ok());
  // An append failure stops it.
  auto f = ZstdStreamEncoder::Create(1, data.size(), 0);
  REQUIRE(f.ok());
  Status st = (*f)->Write(data, [](ByteView) { return IoError("disk full"); });
  CHECK(st.code() == StatusCode::kIoError);
}

}  // namespace
}  // namespace ockpt
