// KvStore: the read interface over keyed byte values that zarr arrays sit on.
// Implementations: FileKvStore (a directory, keys are relative paths) and,
// in formats/orbax/ocdbt, the OCDBT database reader.
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
  Result<std::vector<KeyInfo>> List(std::string_view prefix) const override;
  std::string Describe() const override { return root_; }

  const std::string& root() const { return root_; }

 private:
  Result<std::string> PathOf(std::string_view key) const;
  std::string root_;
};

// True when key is a safe relative path (no empty/./.. parts, not absolute).
bool IsSafeRelativeKey(std::string_view key);

}  // namespace ockpt

#endif  // OCKPT_LIB_KVSTORE_KVSTORE_H_
