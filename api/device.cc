// Checkpoint::ReadToDevice and DeviceBuffer (include/ockpt/ockpt.h): one
// leaf staged into device memory through lib/staging (a ring of pinned host
// buffers; the CUDA backend when ockpt is built with it, else only "host").

#include <fmt/format.h>

#include "api/checkpoint_impl.h"
#include "api/guard.h"
#include "lib/staging/staging.h"
#include "ockpt/ockpt.h"

namespace ockpt {

struct DeviceBuffer::Impl {
  std::unique_ptr<staging::DeviceContext> context;
  staging::DeviceArray array;  // declared after context: freed first
  std::string device;
};

DeviceBuffer::DeviceBuffer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DeviceBuffer::DeviceBuffer(DeviceBuffer&&) noexcept = default;
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&&) noexcept = default;
DeviceBuffer::~DeviceBuffer() = default;

void* DeviceBuffer::data() const { return impl_ ? impl_->array.data() : nullptr; }
uint64_t DeviceBuffer::size() const { return impl_ ? impl_->array.size() : 0; }
std::string_view DeviceBuffer::device() const {
  return impl_ ? std::string_view(impl_->device) : std::string_view();
}

Result<DeviceBuffer> Checkpoint::ReadToDevice(std::string_view name, std::string_view device) const {
  return api::Guard<DeviceBuffer>([&]() -> Result<DeviceBuffer> {
    OCKPT_ASSIGN_OR_RETURN(size_t i, impl_->Find(name));
    const Leaf& leaf = impl_->leaves[i];
    const Impl::Entry& e = impl_->entries[i];
    auto impl = std::make_unique<DeviceBuffer::Impl>();
    OCKPT_ASSIGN_OR_RETURN(impl->context, staging::DeviceContext::Open(device));
    impl->device = impl->context->name();
    const orbax::PyTreeItem* item = e.item;
    const size_t index = e.index;
    const int threads = impl_->threads;
    auto staged = impl->context->Stage(leaf.nbytes, [&](ArrayWriter& w) {
      return item->ReadLeaf(index, w, threads);
    });
    if (!staged.ok()) {
      return std::move(staged).status().WithContext(fmt::format("leaf '{}' to {}", name, impl->device));
    }
    impl->array = std::move(staged).value();
    return DeviceBuffer(std::move(impl));
  });
}

}  // namespace ockpt
