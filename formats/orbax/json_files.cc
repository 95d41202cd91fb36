// Orbax JSON side-file checks.

#include "formats/orbax/json_files.h"

#include <algorithm>

#include "formats/orbax/format/array_metadatas_file.h"
#include "formats/orbax/format/sharding_file.h"
#include "formats/orbax/layout.h"
#include "lib/base/file.h"
#include "lib/base/json.h"

namespace ockpt::orbax {

namespace {

constexpr uint64_t kMaxJsonFile = uint64_t{1} << 30;

Result<Json> Load(const std::string& path) {
  OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFileConfined(path, kMaxJsonFile));
  return ParseJsonBounded(text, path);
}

// _sharding: an object of strings, each holding a JSON object.
Status CheckShardingFile(const std::string& path) {
  OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFileConfined(path, kMaxJsonFile));
  OCKPT_ASSIGN_OR_RETURN(format::ShardingFile f, format::DecodeShardingFile(text, path));
  for (const auto& [key, value] : f.entries) {
    OCKPT_RETURN_IF_ERROR(format::ParseShardingEntry(key, value, path).status());
  }
  return Status::Ok();
}

}  // namespace

Status CheckShardingJson(const Json& j, const std::string& path, bool deep) {
  if (!j.is_object()) return DataLossError("{}: expected a JSON object", path);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string()) {
      return DataLossError("{}: entry \"{}\" is not a string", path, it.key());
    }
    if (!deep) continue;
    auto inner = ParseJsonBounded(it.value().get_ref<const std::string&>(), "");
    if (!inner.ok() || !inner->is_object()) {
      return DataLossError("{}: entry \"{}\" does not hold a JSON object", path, it.key());
    }
  }
  return Status::Ok();
}

Status CheckArrayMetadatasJson(const Json& j, const std::string& path) {
  if (!j.is_object() || !j.contains("array_metadatas") || !j["array_metadatas"].is_array()) {
    return DataLossError("{}: expected {{\"array_metadatas\": [...]}}", path);
  }
  size_t i = 0;
  for (const Json& e : j["array_metadatas"]) {
    if (!e.is_object() || !e.contains("array_metadata") || !e["array_metadata"].is_object()) {
      return DataLossError("{}: array_metadatas[{}] is not {{\"array_metadata\": {{...}}}}", path, i);
    }
    ++i;
  }
  return Status::Ok();
}

std::vector<std::string> CheckItemJsonFiles(const std::string& dir) {
  std::vector<std::string> problems;
  auto check = [&](const std::string& path, Status (*shape)(const Json&, const std::string&)) {
    if (!PathExists(path)) return;
    auto j = Load(path);
    Status s = j.ok() ? (shape ? shape(*j, path) : Status::Ok()) : j.status();
    if (!s.ok()) problems.push_back(std::string(s.message()));
  };
  if (std::string path = JoinPath(dir, kShardingFile); PathExists(path)) {
    Status s = CheckShardingFile(path);
    if (!s.ok()) problems.push_back(std::string(s.message()));
  }
  check(JoinPath(dir, kStringsFile), [](const Json& j, const std::string& path) {
    return j.is_object() ? Status::Ok() : DataLossError("{}: expected a JSON object", path);
  });
  for (std::string& p : CheckArrayMetadatasDir(dir)) problems.push_back(std::move(p));
  return problems;
}

std::map<std::string, Json> ReadArrayMetadatasDir(const std::string& dir,
                                                  std::vector<std::string>* problems) {
  std::map<std::string, Json> ext_metadata;
  std::string amdir = JoinPath(dir, kArrayMetadatasDir);
  if (!IsDirectory(amdir)) return ext_metadata;
  auto names = ListDirectory(amdir);
  if (!names.ok()) {
    problems->push_back(std::string(names.status().message()));
    return ext_metadata;
  }
  std::vector<std::string> sorted = *names;
  std::sort(sorted.begin(), sorted.end());
  for (const std::string& n : sorted) {
    if (n.rfind("process_", 0) != 0) continue;
    std::string path = JoinPath(amdir, n);
    auto text = ReadFileConfined(path, kMaxJsonFile);
    auto file = text.ok() ? format::DecodeArrayMetadatasFile(*text, path)
                          : Result<format::ArrayMetadatasFile>(text.status());
    if (!file.ok()) {
      problems->push_back(std::string(file.status().message()));
      continue;
    }
    for (const format::ArrayMetadatasEntry& e : file->array_metadatas) {
      const format::ArrayMetadata& am = e.array_metadata;
      if (am.param_name && am.ext_metadata && !am.ext_metadata->is_null()) {
        ext_metadata[*am.param_name] = *am.ext_metadata;
      }
    }
  }
  return ext_metadata;
}

std::vector<std::string> CheckArrayMetadatasDir(const std::string& dir) {
  std::vector<std::string> problems;
  ReadArrayMetadatasDir(dir, &problems);
  return problems;
}

}  // namespace ockpt::orbax
