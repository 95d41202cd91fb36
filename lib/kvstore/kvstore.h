// KvStore: the read interface over keyed byte values that zarr arrays sit on.
// Implementations: FileKvStore (a directory, keys are relative paths) and,
// in formats/ocdbt, the OCDBT database reader.
//
// Thread-safety: implementations are safe for concurrent Read/List calls.

#ifndef OCKPT_LIB_KVSTORE_KVSTORE_H_
#define OCKPT_LIB_KVSTORE_KVSTORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/bytes.h"

namespace ockpt {

class RandomAccessFile;  // lib/base/file.h

// One value opened for reading in pieces (e.g. a chunk of several GiB that
// is decoded as it streams), so that nobody has to hold it whole.
// Thread-safe for concurrent ReadAt calls.
class ValueReader {
 public:
  virtual ~ValueReader() = default;
  virtual uint64_t size() const = 0;
  // Copies bytes [offset, offset + n) of the value into dst; a range beyond
  // the value, or storage that ends early, is kDataLoss.
  virtual Status ReadAt(uint64_t offset, size_t n, char* dst) const = 0;
  // The file holding the value as one byte range, when it is one (an OCDBT
  // value in a data file, a file-store value): *offset receives where the
  // value starts. Lets uncompressed values be copied file to file
  // (WritableFile::CopyFrom). nullptr otherwise (values in memory).
  virtual const RandomAccessFile* file(uint64_t* offset) const {
    (void)offset;
    return nullptr;
  }
};

// A value held in memory (inline values, small stores).
class MemoryValueReader final : public ValueReader {
 public:
  explicit MemoryValueReader(Bytes data) : data_(std::move(data)) {}
  uint64_t size() const override { return data_.size(); }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override;

 private:
  Bytes data_;
};

struct KeyInfo {
  std::string key;
  uint64_t size = 0;
};

class KvStore {
 public:
  virtual ~KvStore() = default;

  // The value stored under key; kNotFound when the key is absent. Other
  // failures (unreadable or corrupt storage) are kDataLoss / kIoError.
  virtual Result<Bytes> Read(std::string_view key) const = 0;

  // Whether the key exists, without reading its value where possible.
  virtual Result<bool> Contains(std::string_view key) const;

  // Opens key's value for reading in pieces; kNotFound when absent. The
  // default reads the whole value; stores that keep values in files
  // override it to read from the file as asked.
  virtual Result<std::unique_ptr<ValueReader>> OpenValue(std::string_view key) const;

  // The values of several keys, each exactly what Read(key) would return
  // (a missing key is kNotFound in its slot). Stores that keep many values
  // in one file read neighbouring values with one read (OCDBT: values of a
  // data file at most kCoalesceGapBytes apart, up to kCoalesceSpanBytes per
  // read), so chunk loops ask for a batch of small chunks at once. The
  // default reads the keys one by one.
  virtual std::vector<Result<Bytes>> ReadMany(const std::vector<std::string>& keys) const;
  // Coalescing limits for ReadMany (values larger than kCoalesceValueBytes
  // are read on their own: one read each is already large).
  static constexpr uint64_t kCoalesceGapBytes = uint64_t{64} << 10;
  static constexpr uint64_t kCoalesceSpanBytes = uint64_t{8} << 20;
  static constexpr uint64_t kCoalesceValueBytes = uint64_t{1} << 20;

  // Every key that starts with prefix, sorted bytewise, with value sizes.
  virtual Result<std::vector<KeyInfo>> List(std::string_view prefix) const = 0;

  // Where the store lives, for messages ("ckpt/ocdbt" or "ckpt/a").
  virtual std::string Describe() const = 0;
};

// A directory as a key/value store: key "a/0.1" is file "<root>/a/0.1".
// Keys with empty, "." or ".." components are rejected (kInvalidArgument)
// so that no key can name a file outside the root.
class FileKvStore final : public KvStore {
 public:
  explicit FileKvStore(std::string root) : root_(std::move(root)) {}

  Result<Bytes> Read(std::string_view key) const override;
  Result<bool> Contains(std::string_view key) const override;
  Result<std::unique_ptr<ValueReader>> OpenValue(std::string_view key) const override;
  Result<std::vector<KeyInfo>> List(std::string_view prefix) const override;
  std::string Describe() const override { return root_; }

  const std::string& root() const { return root_; }

 private:
  Result<std::string> PathOf(std::string_view key) const;
  std::string root_;
};

// Bytes [offset, offset + size) of file as a ValueReader (range checked on
// every read; the file's own size is checked by the reads).
std::unique_ptr<ValueReader> MakeFileRangeReader(std::shared_ptr<const RandomAccessFile> file,
                                                 uint64_t offset, uint64_t size);

// True when key is a safe relative path (no empty/./.. parts, not absolute).
bool IsSafeRelativeKey(std::string_view key);

}  // namespace ockpt

#endif  // OCKPT_LIB_KVSTORE_KVSTORE_H_
