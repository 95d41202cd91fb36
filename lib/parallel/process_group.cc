// The collective helpers every ProcessGroup shares, and the single-process
// group.

#include "lib/parallel/process_group.h"

#include <fmt/format.h>

#include <cstdint>
#include <cstring>

namespace ockpt {

std::string EncodeStatus(const Status& status) {
  std::string out(4, '\0');
  const uint32_t code = static_cast<uint32_t>(status.code());
  std::memcpy(out.data(), &code, 4);
  out += status.message();
  return out;
}

Status DecodeStatus(std::string_view bytes) {
  if (bytes.size() < 4) return Status(StatusCode::kInternal, "process group: a status of fewer than 4 bytes");
  uint32_t code = 0;
  std::memcpy(&code, bytes.data(), 4);
  if (code == 0) return Status::Ok();
  if (code > 255) {
    return Status(StatusCode::kInternal, fmt::format("process group: unknown status code {}", code));
  }
  return Status(static_cast<StatusCode>(code), std::string(bytes.substr(4)));
}

Status ProcessGroup::AllOk(const Status& local) {
  auto all = AllGather(EncodeStatus(local));
  if (!all.ok()) return all.status();
  for (size_t r = 0; r < all->size(); ++r) {
    Status s = DecodeStatus((*all)[r]);
    if (s.ok()) continue;
    if (size() == 1) return s;
    failed_together_ = true;
    return std::move(s).WithContext(fmt::format("process {}", r));
  }
  return Status::Ok();
}

Status ProcessGroup::ShareStatus(int root, const Status& status) {
  std::string bytes = EncodeStatus(status);
  Status s = Broadcast(root, &bytes);
  if (!s.ok()) return s;
  s = DecodeStatus(bytes);
  if (!s.ok() && size() > 1) failed_together_ = true;
  return s;
}

Status SingleProcessGroup::Broadcast(int root, std::string*) {
  if (root != 0) return Status(StatusCode::kInvalidArgument, fmt::format("broadcast from process {} of 1", root));
  return Status::Ok();
}

}  // namespace ockpt
