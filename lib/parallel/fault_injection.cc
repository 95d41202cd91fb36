// The fault-injecting process group (fault_injection.h).

#include "lib/parallel/fault_injection.h"

#include <fmt/format.h>

#include <charconv>
#include <csignal>
#include <string>

namespace ockpt {
namespace {

class FaultyGroup final : public ProcessGroup {
 public:
  FaultyGroup(std::unique_ptr<ProcessGroup> inner, ProcessFault fault)
      : inner_(std::move(inner)), fault_(fault) {}
  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  Status Barrier() override { return inner_->Barrier(); }
  Result<std::vector<std::string>> AllGather(std::string_view bytes) override { return inner_->AllGather(bytes); }
  Status Broadcast(int root, std::string* bytes) override { return inner_->Broadcast(root, bytes); }
  Status AllOk(const Status& local) override {
    ++calls_;
    if (rank() == fault_.rank && calls_ == fault_.call) {
      if (fault_.kill) std::raise(SIGKILL);
      return ProcessGroup::AllOk(
          Status(StatusCode::kIoError, fmt::format("injected failure (OCKPT_TEST_PROCESS_FAULT) at step {}", calls_)));
    }
    return ProcessGroup::AllOk(local);
  }

 private:
  std::unique_ptr<ProcessGroup> inner_;
  ProcessFault fault_;
  int calls_ = 0;
};

bool ParseInt(std::string_view s, int* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<ProcessFault> ParseProcessFault(std::string_view spec) {
  ProcessFault f;
  size_t a = spec.find(':');
  size_t b = a == std::string_view::npos ? a : spec.find(':', a + 1);
  std::string_view what = b == std::string_view::npos ? "" : spec.substr(b + 1);
  if (b == std::string_view::npos || !ParseInt(spec.substr(0, a), &f.rank) ||
      !ParseInt(spec.substr(a + 1, b - a - 1), &f.call) || (what != "fail" && what != "kill")) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("process fault '{}': expected RANK:CALL:fail or RANK:CALL:kill", spec));
  }
  f.kill = what == "kill";
  return f;
}

std::unique_ptr<ProcessGroup> WithProcessFault(std::unique_ptr<ProcessGroup> inner, const ProcessFault& fault) {
  return std::make_unique<FaultyGroup>(std::move(inner), fault);
}

}  // namespace ockpt
