// KvStore defaults and FileKvStore.

#include "lib/kvstore/kvstore.h"

#include <algorithm>
#include <filesystem>

#include "lib/base/file.h"

namespace ockpt {

Result<bool> KvStore::Contains(std::string_view key) const {
  auto r = Read(key);
  if (r.ok()) return true;
  if (r.status().code() == StatusCode::kNotFound) return false;
  return r.status();
}

bool IsSafeRelativeKey(std::string_view key) {
  if (key.empty() || key.front() == '/') return false;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view part = key.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (part.find('\0') != std::string_view::npos) return false;
    start = end + 1;
  }
  return true;
}

Result<std::string> FileKvStore::PathOf(std::string_view key) const {
  if (!IsSafeRelativeKey(key)) {
    return InvalidArgumentError("key '{}' is not a safe relative path under {}", key, root_);
  }
  return JoinPath(root_, key);
}

Result<Bytes> FileKvStore::Read(std::string_view key) const {
  OCKPT_ASSIGN_OR_RETURN(std::string path, PathOf(key));
  return ReadFile(path);
}

Result<bool> FileKvStore::Contains(std::string_view key) const {
  OCKPT_ASSIGN_OR_RETURN(std::string path, PathOf(key));
  return IsRegularFile(path);
}

Result<std::vector<KeyInfo>> FileKvStore::List(std::string_view prefix) const {
  std::vector<KeyInfo> out;
  std::error_code ec;
  std::filesystem::path root(root_);
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (!it->is_regular_file(ec2)) continue;
    std::string key = it->path().lexically_relative(root).generic_string();
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    out.push_back({std::move(key), it->file_size(ec2)});
  }
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return NotFoundError("{} does not exist", root_);
    return IoError("cannot list {}: {}", root_, ec.message());
  }
  std::sort(out.begin(), out.end(), [](const KeyInfo& a, const KeyInfo& b) { return a.key < b.key; });
  return out;
}

}  // namespace ockpt
