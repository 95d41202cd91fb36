// ockpt::Checkpoint (include/ockpt/ockpt.h): opens a checkpoint through
// orbax::OpenCheckpoint, lists its array leaves and reads them (whole, or a
// box of one) into caller memory. Every entry point catches what the
// internals might still throw (std::bad_alloc, ...): no exception crosses
// the API.

#include <algorithm>
#include <cstring>
#include <exception>
#include <map>
#include <new>

#include <fmt/format.h>

#include "api/checkpoint_impl.h"
#include "api/guard.h"
#include "formats/orbax/checkpoint_reader.h"
#include "formats/zarr/chunk_layout.h"
#include "lib/base/result.h"
#include "ockpt/ockpt.h"

namespace ockpt {
namespace {

// An ArrayWriter over caller memory. Pieces never overlap, so concurrent
// writers (chunk decoders) are safe.
class SpanWriter final : public ArrayWriter {
 public:
  explicit SpanWriter(std::span<std::byte> out) : out_(out) {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    if (offset > out_.size() || data.size() > out_.size() - offset) {
      return InternalError("write of {} bytes at {} outside a {}-byte buffer", data.size(), offset,
                           out_.size());
    }
    if (!data.empty()) std::memcpy(out_.data() + offset, data.data(), data.size());
    return Status::Ok();
  }
  bool concurrent() const override { return true; }

 private:
  std::span<std::byte> out_;
};

}  // namespace

Checkpoint::Checkpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;
Checkpoint::~Checkpoint() = default;

Result<Checkpoint> Checkpoint::Open(const std::string& path, const OpenOptions& options) {
  return api::Guard<Checkpoint>([&]() -> Result<Checkpoint> {
    orbax::OpenOptions open;
    open.step = options.step;
    open.item = options.item;
    OCKPT_ASSIGN_OR_RETURN(orbax::Checkpoint ckpt, orbax::OpenCheckpoint(path, open));
    auto impl = std::make_unique<Impl>();
    impl->threads = options.threads;
    impl->ckpt = std::move(ckpt);
    const orbax::Checkpoint& c = impl->ckpt;

    std::vector<const orbax::ItemEntry*> pytrees;
    for (const orbax::ItemEntry& e : c.items) {
      if (e.kind == orbax::ItemKind::kPyTree) pytrees.push_back(&e);
    }
    if (pytrees.empty()) {
      if (options.item) return NotFoundError("item '{}' of {} is not a PyTree item", *options.item, path);
      return NotFoundError("{} holds no PyTree item (no arrays to read)", path);
    }
    // Several PyTree items (and no item chosen): every item's leaves, named
    // "<item>.<name>". A damaged item is then skipped as long as another one
    // reads; a single (or chosen) item must read.
    const bool prefixed = pytrees.size() > 1;
    Status first_error;
    size_t readable = 0;
    for (const orbax::ItemEntry* e : pytrees) {
      Status error = !e->pytree ? e->error : e->pytree->leaf_error();
      if (!e->pytree && error.ok()) error = DataLossError("item could not be opened");
      if (!error.ok()) {
        std::string where = e->name.empty() ? path : fmt::format("item '{}' of {}", e->name, path);
        if (first_error.ok()) first_error = std::move(error).WithContext(where);
        continue;
      }
      ++readable;
      const orbax::PyTreeItem& item = *e->pytree;
      for (size_t i = 0; i < item.leaves().size(); ++i) {
        const LeafRecord& r = item.leaves()[i];
        if (!r.HasArrayData()) continue;
        Leaf leaf;
        leaf.name = prefixed ? e->name + "." + r.name() : r.name();
        leaf.dtype = std::string(Name(*r.dtype));
        leaf.shape = *r.shape;
        Impl::Entry entry;
        entry.item = &item;
        entry.index = i;
        entry.shape = *r.shape;
        entry.element_size = SizeOf(*r.dtype);
        OCKPT_ASSIGN_OR_RETURN(leaf.nbytes,
                               zarr::CheckedByteCount(entry.shape, entry.element_size,
                                                      zarr::kMaxArrayBytes, leaf.name));
        if (!impl->by_name.emplace(leaf.name, impl->leaves.size()).second) {
          return DataLossError("{}: two array leaves are named '{}'", path, leaf.name);
        }
        impl->leaves.push_back(std::move(leaf));
        impl->entries.push_back(std::move(entry));
      }
    }
    if (readable == 0 || (!prefixed && !first_error.ok())) return first_error;
    return Checkpoint(std::move(impl));
  });
}

const std::vector<Leaf>& Checkpoint::leaves() const { return impl_->leaves; }

const Leaf* Checkpoint::FindLeaf(std::string_view name) const {
  auto it = impl_->by_name.find(name);
  return it == impl_->by_name.end() ? nullptr : &impl_->leaves[it->second];
}

std::optional<int64_t> Checkpoint::step() const { return impl_->ckpt.step; }

Status Checkpoint::Read(std::string_view name, std::span<std::byte> out) const {
  return api::GuardStatus([&]() -> Status {
    OCKPT_ASSIGN_OR_RETURN(size_t i, impl_->Find(name));
    const Leaf& leaf = impl_->leaves[i];
    if (out.size() != leaf.nbytes) {
      return InvalidArgumentError("leaf '{}' ({} {}) has {} bytes, the output buffer {}", name,
                                  leaf.dtype, ShapeString(leaf.shape), leaf.nbytes, out.size());
    }
    const Impl::Entry& e = impl_->entries[i];
    SpanWriter writer(out);
    return e.item->ReadLeaf(e.index, writer, impl_->threads);
  });
}

Status Checkpoint::ReadSlice(std::string_view name, std::span<const int64_t> start,
                             std::span<const int64_t> shape, std::span<std::byte> out) const {
  return api::GuardStatus([&]() -> Status {
    OCKPT_ASSIGN_OR_RETURN(size_t i, impl_->Find(name));
    const Leaf& leaf = impl_->leaves[i];
    const Impl::Entry& e = impl_->entries[i];
    const size_t rank = e.shape.size();
    if (start.size() != rank || shape.size() != rank) {
      return InvalidArgumentError("leaf '{}' has rank {}; the box has start of rank {} and shape of rank {}",
                                  name, rank, start.size(), shape.size());
    }
    Shape origin(start.begin(), start.end()), extent(shape.begin(), shape.end());
    bool whole = true;
    for (size_t d = 0; d < rank; ++d) {
      if (origin[d] < 0 || extent[d] < 0 || origin[d] > e.shape[d] ||
          extent[d] > e.shape[d] - origin[d]) {
        return InvalidArgumentError("box start {} shape {} lies outside leaf '{}' of shape {} (dimension {})",
                                    ShapeString(origin), ShapeString(extent), name,
                                    ShapeString(e.shape), d);
      }
      if (origin[d] != 0 || extent[d] != e.shape[d]) whole = false;
    }
    OCKPT_ASSIGN_OR_RETURN(uint64_t nbytes,
                           zarr::CheckedByteCount(extent, e.element_size, zarr::kMaxArrayBytes, name));
    if (out.size() != nbytes) {
      return InvalidArgumentError("box {} of leaf '{}' ({}) has {} bytes, the output buffer {}",
                                  ShapeString(extent), name, leaf.dtype, nbytes, out.size());
    }
    if (nbytes == 0) return Status::Ok();
    // Only the chunks the box overlaps are read and decoded (no read-ahead
    // unless the box is the whole leaf).
    SpanWriter writer(out);
    return e.item->ReadLeafBox(e.index, origin, extent, writer, whole ? impl_->threads : 1);
  });
}

std::string_view Version() { return OCKPT_VERSION; }

}  // namespace ockpt
