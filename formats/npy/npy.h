// .npy files (NumPy format version 1.0): the header struct with symmetric
// Encode/Decode, and an ArrayWriter that streams an array into a file.
//
// Layout: "\x93NUMPY" 01 00, uint16 LE header length, a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
// spaces to a multiple of 64 bytes and ending in '\n', then the raw data.

#ifndef OCKPT_FORMATS_NPY_NPY_H_
#define OCKPT_FORMATS_NPY_NPY_H_

#include <string>

#include "lib/base/file.h"
#include "lib/checkpoint/array_io.h"
#include "lib/checkpoint/tree.h"

namespace ockpt::npy {

struct NpyHeader {
  std::string descr;  // "<f4", "|b1", "<u2"
  bool fortran_order = false;
  Shape shape;
  friend bool operator==(const NpyHeader&, const NpyHeader&) = default;
};

// The magic, version, length and padded dict; data starts right after.
Bytes EncodeNpyHeader(const NpyHeader& header);
// Parses the header at the start of `data`; *data_offset receives where the
// array bytes begin. Accepts versions 1.0, 2.0 and 3.0.
Result<NpyHeader> DecodeNpyHeader(ByteView data, size_t* data_offset);

// Streams an array into `path` (created or truncated).
class NpyFileWriter final : public ArrayWriter {
 public:
  static Result<NpyFileWriter> Create(const std::string& path, const NpyHeader& header,
                                      uint64_t data_bytes);
  Status WriteAt(uint64_t offset, ByteView data) override;
  // pwrite at distinct offsets.
  bool concurrent() const override { return true; }
  // copy_file_range into the file.
  Status CopyFromFile(uint64_t offset, const RandomAccessFile& src, uint64_t src_offset,
                      uint64_t n) override;
  Status Close();

 private:
  NpyFileWriter(WritableFile file, uint64_t data_offset, uint64_t data_bytes)
      : file_(std::move(file)), data_offset_(data_offset), data_bytes_(data_bytes) {}
  WritableFile file_;
  uint64_t data_offset_;
  uint64_t data_bytes_;
};

}  // namespace ockpt::npy

#endif  // OCKPT_FORMATS_NPY_NPY_H_
