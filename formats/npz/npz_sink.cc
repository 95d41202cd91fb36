// Writing .npz archives: stored .npy members plus _tree.json.

#include <fmt/format.h>

#include "formats/common/tree_check.h"
#include "lib/base/json.h"
#include "formats/npy/npy.h"
#include "formats/npz/npz.h"
#include "formats/npz/zip_writer.h"
#include "lib/base/file.h"

namespace ockpt::npz {
namespace {

// Shifts the array's offsets past the member's .npy header.
class ShiftedWriter final : public ArrayWriter {
 public:
  ShiftedWriter(ZipMemberWriter* member, uint64_t shift) : member_(member), shift_(shift) {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    return member_->WriteAt(shift_ + offset, data);
  }

 private:
  ZipMemberWriter* member_;
  uint64_t shift_;
};

class NpzSink final : public CheckpointSink {
 public:
  explicit NpzSink(ZipWriter zip) : zip_(std::move(zip)) {}

  Status Begin(const std::vector<LeafRecord>& leaves) override {
    std::vector<LeafRecord> sorted = leaves;
    SortLeaves(&sorted);
    return formats::CheckTreeShape(sorted, zip_.path());
  }

  Status WriteArray(const LeafRecord& leaf,
                    const std::function<Status(ArrayWriter&)>& fill) override {
    std::string name = leaf.name();
    if (!leaf.HasArrayData()) return InternalError("leaf '{}' has no dtype and shape", name);
    if (leaf.keypath.empty())
      return UnimplementedError("{}: a bare top-level array cannot be an .npz member", zip_.path());
    std::string member;
    for (const PathKey& k : leaf.keypath) {
      if (!formats::IsPlainComponent(k.key)) {
        return UnimplementedError("{}: leaf '{}': key '{}' cannot be part of a member name",
                                  zip_.path(), name, k.key);
      }
      member += (member.empty() ? "" : "/") + k.key;
    }
    member += ".npy";
    if (member.size() > 0xffff)
      return UnimplementedError("{}: leaf '{}': member name too long", zip_.path(), name);
    Bytes header =
        npy::EncodeNpyHeader({std::string(Info(*leaf.dtype).npy_descr), false, *leaf.shape});
    uint64_t bytes = static_cast<uint64_t>(NumElements(*leaf.shape)) * SizeOf(*leaf.dtype);
    OCKPT_ASSIGN_OR_RETURN(ZipMemberWriter w, zip_.BeginMember(member, header.size() + bytes));
    OCKPT_RETURN_IF_ERROR(w.WriteAt(0, header));
    ShiftedWriter shifted(&w, header.size());
    Status s = fill(shifted);
    if (!s.ok()) return s;
    s = w.Close();
    if (!s.ok()) return std::move(s).WithContext(fmt::format("leaf '{}'", name));
    leaves_.push_back(Record(leaf));
    records_.push_back(leaf);
    return Status::Ok();
  }

  Status WriteLeaf(const LeafRecord& leaf) override {
    leaves_.push_back(Record(leaf));
    records_.push_back(leaf);
    return Status::Ok();
  }

  Status Finish(const Json& custom_metadata) override {
    if (!TreeJsonReason(records_, custom_metadata).empty()) {  // else a plain .npz
      Json tree;
      tree["leaves"] = std::move(leaves_);
      tree["custom_metadata"] = custom_metadata;
      OCKPT_RETURN_IF_ERROR(zip_.AddMember("_tree.json", DumpJson(tree, 2) + "\n"));
    }
    return zip_.Finish();
  }

 private:
  // The _tree.json record; what described the source's storage is dropped.
  static Json Record(const LeafRecord& leaf) {
    LeafRecord r = leaf;
    r.compressor.reset();
    r.stored_bytes.reset();
    return r.ToJson();
  }

  ZipWriter zip_;
  Json leaves_ = Json::array();
  std::vector<LeafRecord> records_;  // for TreeJsonReason
};

}  // namespace

std::string TreeJsonReason(const std::vector<LeafRecord>& leaves, const Json& custom_metadata) {
  std::vector<std::string> why;
  std::string raw_bits, value_types, sequence_keys, sharding;
  size_t strings = 0, empty_nodes = 0;
  for (const LeafRecord& r : leaves) {
    if (r.value_type == kString) {
      ++strings;
      continue;
    }
    if (!r.HasArrayData()) {
      ++empty_nodes;
      continue;
    }
    if (raw_bits.empty() && !Info(*r.dtype).native_numpy) {
      raw_bits = fmt::format("{} leaf '{}' (raw bits)", Name(*r.dtype), r.name());
    }
    if (value_types.empty() && r.value_type != kNpArray) {
      value_types = fmt::format("value type {} of '{}'", r.value_type, r.name());
    }
    if (sharding.empty() && !r.sharding.is_null()) sharding = fmt::format("sharding of '{}'", r.name());
    for (const PathKey& k : r.keypath) {
      if (sequence_keys.empty() && k.type == KeyType::kSequence) {
        sequence_keys = fmt::format("sequence keys ('{}')", r.name());
      }
    }
  }
  for (const std::string* s : {&raw_bits, &value_types, &sequence_keys, &sharding}) {
    if (!s->empty()) why.push_back(*s);
  }
  if (strings) why.push_back(fmt::format("{} string leaf{}", strings, strings == 1 ? "" : "s"));
  if (empty_nodes) why.push_back(fmt::format("{} empty node{}", empty_nodes, empty_nodes == 1 ? "" : "s"));
  if (!custom_metadata.is_null()) {
    why.push_back("custom metadata");
  }
  std::string out;
  for (const std::string& w : why) out += (out.empty() ? "" : ", ") + w;
  return out;
}

Result<std::unique_ptr<CheckpointSink>> CreateNpzSink(const std::string& path) {
  if (PathExists(path)) return AlreadyExistsError("{} already exists", path);
  OCKPT_ASSIGN_OR_RETURN(ZipWriter zip, ZipWriter::Create(path));
  return std::unique_ptr<CheckpointSink>(new NpzSink(std::move(zip)));
}

}  // namespace ockpt::npz
