// The streaming path every array travels: a reader pushes an array's bytes
// (C order, little-endian elements) into an ArrayWriter one chunk-sized piece
// at a time, at their byte offsets in the whole array. Memory is bounded by
// the chunk size, never by the array size.

#ifndef OCKPT_LIB_CHECKPOINT_ARRAY_IO_H_
#define OCKPT_LIB_CHECKPOINT_ARRAY_IO_H_

#include <cstdint>
#include <cstring>

#include "lib/base/bytes.h"

namespace ockpt {

class RandomAccessFile;  // lib/base/file.h

class ArrayWriter {
 public:
  virtual ~ArrayWriter() = default;
  // `data` holds bytes [offset, offset + data.size()) of the array in C
  // order with little-endian elements. Pieces arrive in any order and never
  // overlap; together they cover the whole array exactly once.
  virtual Status WriteAt(uint64_t offset, ByteView data) = 0;
  // True when WriteAt may be called from several threads at once (e.g. a
  // file written with pwrite): readers then let the workers that decode
  // chunks write them too.
  virtual bool concurrent() const { return false; }
  // Writes bytes [src_offset, src_offset + n) of src at `offset`, as
  // WriteAt(offset, those bytes) would, without passing them through user
  // memory when the writer is a file (copy_file_range). kUnimplemented,
  // with nothing written, when this writer cannot: the caller then reads
  // and writes the bytes itself. Same threading as WriteAt.
  virtual Status CopyFromFile(uint64_t offset, const RandomAccessFile& src, uint64_t src_offset,
                              uint64_t n) {
    (void)offset, (void)src, (void)src_offset, (void)n;
    return UnimplementedError("this writer takes no file copies");
  }
};

// Gives random access to an array's bytes (C order, little-endian
// elements), e.g. a .npy file or a member of an .npz. Writers gather each
// chunk's runs from it, so no source is ever read whole into memory.
class ArraySource {
 public:
  virtual ~ArraySource() = default;
  // Total bytes of the array.
  virtual uint64_t size() const = 0;
  // Copies bytes [offset, offset + n) into dst.
  virtual Status ReadAt(uint64_t offset, size_t n, char* dst) const = 0;
  // True when ReadAt may be called from several threads at once (a file
  // read with pread): writers then gather chunks on their workers.
  virtual bool concurrent() const { return false; }
};

// An array held in memory (tests and small values only).
class MemoryArraySource final : public ArraySource {
 public:
  explicit MemoryArraySource(Bytes data) : data_(std::move(data)) {}
  uint64_t size() const override { return data_.size(); }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset > data_.size() || n > data_.size() - offset) {
      return InternalError("read of {} bytes at {} outside a {}-byte array", n, offset, data_.size());
    }
    std::memcpy(dst, data_.data() + offset, n);
    return Status::Ok();
  }

 private:
  Bytes data_;
};

// Collects the array in memory (tests and small values only).
class MemoryArrayWriter final : public ArrayWriter {
 public:
  explicit MemoryArrayWriter(uint64_t total_bytes) : data_(total_bytes, '\0') {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    if (offset > data_.size() || data.size() > data_.size() - offset) {
      return InternalError("write of {} bytes at {} outside a {}-byte array", data.size(), offset,
                           data_.size());
    }
    data_.replace(offset, data.size(), data);
    return Status::Ok();
  }
  const Bytes& data() const { return data_; }
  Bytes& data() { return data_; }

 private:
  Bytes data_;
};

}  // namespace ockpt

#endif  // OCKPT_LIB_CHECKPOINT_ARRAY_IO_H_
