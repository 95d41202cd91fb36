// OcdbtKvStore: read access to one TensorStore OCDBT database directory
// (manifest.ocdbt + d/<hex> data files), at its latest or a chosen
// generation. See docs/format/ocdbt.md for the byte layout.
//
// Values that live out of line are read from their data file on demand; a
// missing or short data file is kDataLoss naming the file. Listing reads only
// B+tree nodes, so it works when value data files are gone.
//
// Thread-safety: safe for concurrent use (decoded nodes are cached under a
// mutex).

#ifndef OCKPT_FORMATS_OCDBT_OCDBT_KVSTORE_H_
#define OCKPT_FORMATS_OCDBT_OCDBT_KVSTORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/kvstore/kvstore.h"

namespace ockpt::ocdbt {

// One generation of the database (a B+tree root).
struct VersionInfo {
  uint64_t generation = 0;
  uint64_t commit_time_ns = 0;
  uint64_t num_keys = 0;
  uint64_t num_tree_bytes = 0;
  uint64_t num_indirect_value_bytes = 0;
};

// One key of the B+tree with where its value lives.
struct EntryInfo {
  std::string key;
  uint64_t size = 0;
  bool is_inline = true;
  std::string file;     // indirect: data file path relative to the DB root
  uint64_t offset = 0;  // indirect: byte offset in that file
  Bytes inline_value;   // inline: the value itself
};

class OcdbtKvStore final : public KvStore {
 public:
  // Opens the database in `dir` (the folder holding manifest.ocdbt).
  // generation 0 = the latest; otherwise that generation, or kNotFound.
  // A missing manifest is kNotFound; a damaged one kDataLoss.
  static Result<std::unique_ptr<OcdbtKvStore>> Open(const std::string& dir,
                                                    uint64_t generation = 0);
  ~OcdbtKvStore() override;

  Result<Bytes> Read(std::string_view key) const override;
  Result<bool> Contains(std::string_view key) const override;
  // Out-of-line values are read from their data file as asked.
  Result<std::unique_ptr<ValueReader>> OpenValue(std::string_view key) const override;
  // Small out-of-line values that lie close together in one data file are
  // read with one pread (see KvStore::ReadMany); a failed coalesced read
  // falls back to one read per value, so errors name their own key.
  std::vector<Result<Bytes>> ReadMany(const std::vector<std::string>& keys) const override;
  Result<std::vector<KeyInfo>> List(std::string_view prefix) const override;
  std::string Describe() const override;

  // Every entry whose key starts with prefix, in key order.
  Result<std::vector<EntryInfo>> ListEntries(std::string_view prefix) const;
  // The value of a listed entry.
  Result<Bytes> ReadEntry(const EntryInfo& entry) const;
  // The generation this store reads.
  const VersionInfo& version() const;
  // Every generation still reachable from the manifest, oldest first.
  Result<std::vector<VersionInfo>> ListVersions() const;

  class Impl;

 private:
  explicit OcdbtKvStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ockpt::ocdbt

#endif  // OCKPT_FORMATS_OCDBT_OCDBT_KVSTORE_H_
