// OcdbtWriter: creates a TensorStore OCDBT database (generation 1) the way
// Orbax configures it: max_inline_value_bytes 1024, max_decoded_node_bytes
// 100000000, single-file manifest, version_tree_arity_log2 4, zstd level 0
// for nodes. Values larger than the inline limit are appended to immutable
// data files `d/<32 random hex>` as they arrive (a new file starts at the
// target size); Commit builds the B+tree bottom-up, the version tree and the
// manifest, syncing data files before the manifest is written.
//
// WriteMergedRoot is Orbax's finalize step: a root database whose entries are
// the process databases', with out-of-line values referenced in place through
// the data-file base path ("ocdbt.process_0/").
//
// The B+tree has the shape TensorStore gives a fresh tree (same node splits,
// excluded key prefixes and subtree_common_prefix_length values); see
// docs/format/ocdbt.md, "Writing". Memory holds the keys and inline values
// only. Put, PutStreamed and PutReference may be called from several threads
// at once (values written side by side go to data files of their own);
// Commit after every other call has returned. A writer destroyed without
// Commit leaves its data files behind and no manifest (the database does
// not exist).

#ifndef OCKPT_FORMATS_OCDBT_OCDBT_WRITER_H_
#define OCKPT_FORMATS_OCDBT_OCDBT_WRITER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/bytes.h"

namespace ockpt::ocdbt {

struct WriterOptions {
  uint32_t max_inline_value_bytes = 1024;
  uint32_t max_decoded_node_bytes = 100000000;
  uint8_t version_tree_arity_log2 = 4;
  bool compress_nodes = true;  // zstd envelopes for nodes and manifest
  int zstd_level = 0;          // 0 = libzstd default (3)
  uint64_t target_data_file_size = uint64_t{1} << 31;
  bool sync = true;            // fsync data files, then the manifest
};

class OcdbtWriter {
 public:
  // Starts a database in dir (created if missing); fails with kAlreadyExists
  // if dir already holds manifest.ocdbt.
  static Result<std::unique_ptr<OcdbtWriter>> Create(const std::string& dir,
                                                     const WriterOptions& options = {});
  ~OcdbtWriter();

  // Adds a key; keys may come in any order, a duplicate fails at Commit.
  // A key over 65535 bytes is kInvalidArgument. A value over
  // max_inline_value_bytes is written to the current data file now; a
  // failed write is returned by every later call.
  Status Put(std::string key, ByteView value);
  // Adds a key whose value `produce` hands over in pieces through append
  // (a chunk encoded as it streams). size_bound, an upper bound of the
  // value's size, decides whether a new data file starts first. A value
  // that ends up within max_inline_value_bytes is stored inline, as Put
  // would. A failure after bytes reached the data file is sticky.
  Status PutStreamed(std::string key, uint64_t size_bound,
                     const std::function<Status(const std::function<Status(ByteView)>& append)>& produce);
  // Adds a key whose value stays in another database's data file:
  // `base_path` + `relative_path` relative to this database's directory
  // (a safe relative path, else kInvalidArgument).
  Status PutReference(std::string key, std::string base_path, std::string relative_path,
                      uint64_t offset, uint64_t length);
  // Writes the B+tree nodes, syncs the data files (options.sync), then
  // publishes manifest.ocdbt (generation 1 at commit_time_ns) without
  // replacing one that exists (kAlreadyExists). Duplicate keys are
  // kInvalidArgument. Calls after Commit are kFailedPrecondition.
  Status Commit(uint64_t commit_time_ns);

  class Impl;

 private:
  explicit OcdbtWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Builds the root database of an Orbax item in item_dir from the database in
// item_dir/child_rel (e.g. "ocdbt.process_0"), as Orbax's merge does: every
// entry of the child's latest generation, inline values copied, out-of-line
// values referenced as base_path "<child_rel>/", relative_path "d/<hex>".
// The root gets a fresh uuid, its own nodes in item_dir/d/ and a generation 1
// manifest.
Status WriteMergedRoot(const std::string& item_dir, const std::string& child_rel,
                       uint64_t commit_time_ns, const WriterOptions& options = {});
// The same over several process databases (a multi-process save:
// "ocdbt.process_0", "ocdbt.process_1", ...): the root holds the entries of
// all of them; a key in two of them is kInvalidArgument.
Status WriteMergedRoot(const std::string& item_dir, const std::vector<std::string>& children_rel,
                       uint64_t commit_time_ns, const WriterOptions& options = {});

}  // namespace ockpt::ocdbt

#endif  // OCKPT_FORMATS_OCDBT_OCDBT_WRITER_H_
