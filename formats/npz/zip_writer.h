// A minimal ZIP writer for stored (uncompressed) members, ZIP64 where sizes
// or offsets need it. Members are laid out one after another; each member's
// bytes may arrive in any order (pwrite at their offsets) and the CRC-32 is
// combined from the pieces, so an array never has to be in memory or staged
// in a temporary file. Timestamps are fixed (1980-01-01 00:00) so the output
// is deterministic. Python's zipfile, NumPy and libzip read it.
// Not for concurrent use: one thread writes at a time (as the chunk
// pipelines, which consume results on the calling thread, do).

#ifndef OCKPT_FORMATS_NPZ_ZIP_WRITER_H_
#define OCKPT_FORMATS_NPZ_ZIP_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/checkpoint/array_io.h"

namespace ockpt::npz {

class ZipWriter;

// The bytes of one member; see ZipWriter::BeginMember.
class ZipMemberWriter final : public ArrayWriter {
 public:
  // `offset` is relative to the member's first byte.
  Status WriteAt(uint64_t offset, ByteView data) override;
  // Checks that every byte was written and records the CRC-32.
  Status Close();

 private:
  friend class ZipWriter;
  ZipMemberWriter(ZipWriter* zip, size_t index, uint64_t data_offset, uint64_t size)
      : zip_(zip), index_(index), data_offset_(data_offset), size_(size) {}
  struct Run {
    uint64_t length;
    uint32_t crc;
  };
  ZipWriter* zip_;
  size_t index_;
  uint64_t data_offset_;
  uint64_t size_;
  std::map<uint64_t, Run> runs_;  // written ranges, merged when adjacent
  bool closed_ = false;
};

class ZipWriter {
 public:
  // Creates (or truncates) path.
  static Result<ZipWriter> Create(const std::string& path);
  ZipWriter(ZipWriter&&) = default;
  ZipWriter& operator=(ZipWriter&&) = default;

  // Starts a stored member of exactly `size` bytes. The previous member must
  // be closed. The returned writer must outlive no call but its own Close().
  Result<ZipMemberWriter> BeginMember(const std::string& name, uint64_t size);
  // A whole member from memory.
  Status AddMember(const std::string& name, ByteView data);
  // Writes the central directory and closes the file.
  Status Finish();

  const std::string& path() const { return file_.path(); }

 private:
  friend class ZipMemberWriter;
  struct Entry {
    std::string name;
    uint64_t header_offset;
    uint64_t size;
    uint32_t crc = 0;
    bool done = false;
  };
  explicit ZipWriter(WritableFile file) : file_(std::move(file)) {}
  Status Patch(size_t index, uint32_t crc);

  WritableFile file_;
  std::vector<Entry> entries_;
  uint64_t end_ = 0;  // where the next member starts
};

}  // namespace ockpt::npz

#endif  // OCKPT_FORMATS_NPZ_ZIP_WRITER_H_
