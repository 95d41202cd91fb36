// URL paths as files and directories, with the process-wide cache.

#include "lib/remote/remote_fs.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "lib/remote/object_store.h"

namespace ockpt::remote {

namespace {

constexpr uint64_t kSmallObject = uint64_t{4} << 20;
constexpr uint64_t kSmallCacheBytes = uint64_t{64} << 20;

struct Cache {
  std::mutex mu;
  std::map<std::string, PathStat> stats;                 // by canonical URL
  std::map<std::string, std::vector<DirEntry>> listings;  // by canonical URL of the directory
  std::map<std::string, Bytes> small;
  uint64_t small_bytes = 0;

  void Clear() {
    std::lock_guard<std::mutex> lock(mu);
    stats.clear();
    listings.clear();
    small.clear();
    small_bytes = 0;
  }
};

Cache& TheCache() {
  static Cache* cache = new Cache();
  return *cache;
}

struct Target {
  std::shared_ptr<const ObjectStore> store;
  std::string key;
  std::string id;  // canonical URL
};

Result<Target> Resolve(const std::string& url) {
  OCKPT_ASSIGN_OR_RETURN(Resolved r, StoreForUrl(url));
  Target t{r.store, r.key, r.store->Url(r.key)};
  return t;
}

std::string Child(const std::string& key, const std::string& name) { return key.empty() ? name : key + "/" + name; }

// Runs fn(i) for i in [0, n) on up to `width` threads.
template <typename Fn>
void Parallel(size_t n, size_t width, Fn fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(n, width); ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < n;) fn(i);
    });
  }
  for (auto& th : threads) th.join();
}

// http(s): no listing. A directory's entries are the names an Orbax
// checkpoint, item or OCDBT database may hold, each probed with a HEAD; item
// directories come from _CHECKPOINT_METADATA's item_handlers, a
// subdirectory exists when one of the files an item holds is there.
Result<std::vector<DirEntry>> ProbeDir(const Target& t) {
  static const char* kFiles[] = {"_CHECKPOINT_METADATA", "_METADATA", "_sharding", "_strings.json",
                                 "manifest.ocdbt", "commit_success.txt", "checkpoint", "metadata",
                                 "data.json", ".zarray", "zarr.json", ".zattrs", "_tree.json",
                                 "_CHECKPOINT_METADATA.json", "_ROOT_METADATA", "metrics", "process_0"};
  static const char* kItemFiles[] = {"_METADATA", "manifest.ocdbt", "_CHECKPOINT_METADATA", "metadata",
                                     "commit_success.txt", "checkpoint", "process_0", "_ROOT_METADATA"};
  std::set<std::string> file_set(std::begin(kFiles), std::end(kFiles));
  std::string base = t.key.substr(t.key.rfind('/') == std::string::npos ? 0 : t.key.rfind('/') + 1);
  if (!base.empty()) file_set.insert(base);  // a JSON item's file named after its directory
  std::vector<std::string> files(file_set.begin(), file_set.end());
  std::vector<char> found(files.size(), 0);
  Parallel(files.size(), 16, [&](size_t i) {
    auto info = t.store->Head(Child(t.key, files[i]));
    if (info.ok()) found[i] = 1;
  });
  std::vector<DirEntry> out;
  std::set<std::string> dirs = {"d", "array_metadatas", "default", "metrics", "state", "metadata", "params", "opt_state"};
  std::set<std::string> listed_items;  // named by item_handlers: Orbax wrote them, whatever their files
  for (size_t i = 0; i < files.size(); ++i) {
    if (!found[i]) continue;
    out.push_back(DirEntry{files[i], false, 0, 0});
    if (files[i] == "_CHECKPOINT_METADATA") {
      auto text = t.store->Get(Child(t.key, files[i]), uint64_t{16} << 20);
      if (text.ok()) {
        auto j = nlohmann::json::parse(*text, nullptr, false);
        if (j.is_object() && j.contains("item_handlers") && j["item_handlers"].is_object()) {
          for (const auto& [k, v] : j["item_handlers"].items()) {
            dirs.insert(k);
            // (Orbax v1's descriptor item writes no directory: the locator's
            // CheckCheckpointListing knows it too.)
            std::string h = v.is_string() ? v.get<std::string>() : "";
            if (!h.empty() && h.find("DescriptorHandler") == std::string::npos) listed_items.insert(k);
          }
        }
      }
    }
  }
  for (int p = 0; p < 64; ++p) {  // ocdbt.process_<i>/: until the first missing one
    std::string name = "ocdbt.process_" + std::to_string(p);
    if (!t.store->Head(Child(Child(t.key, name), "manifest.ocdbt")).ok()) break;
    out.push_back(DirEntry{name, true, 0, 0});
  }
  std::vector<std::string> dir_list(dirs.begin(), dirs.end());
  std::vector<char> dir_found(dir_list.size(), 0);
  bool has_manifest = std::any_of(out.begin(), out.end(), [](const DirEntry& e) { return e.name == "manifest.ocdbt"; });
  Parallel(dir_list.size(), 16, [&](size_t i) {
    if (dir_list[i] == "d") {
      dir_found[i] = has_manifest;
      return;
    }
    for (const char* f : kItemFiles) {
      if (t.store->Head(Child(Child(t.key, dir_list[i]), f)).ok()) {
        dir_found[i] = 1;
        return;
      }
    }
  });
  for (size_t i = 0; i < dir_list.size(); ++i) {
    if (!dir_found[i] && !listed_items.count(dir_list[i])) continue;
    out.erase(std::remove_if(out.begin(), out.end(), [&](const DirEntry& e) { return e.name == dir_list[i]; }), out.end());
    out.push_back(DirEntry{dir_list[i], true, 0, 0});
  }
  std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

Result<std::vector<DirEntry>> ListDirOf(const Target& t) {
  Cache& c = TheCache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.listings.find(t.id);
    if (it != c.listings.end()) return it->second;
  }
  std::vector<DirEntry> out;
  if (!t.store->can_list()) {
    OCKPT_ASSIGN_OR_RETURN(out, ProbeDir(t));
  } else {
    std::string prefix = t.key.empty() ? "" : t.key + "/";
    OCKPT_ASSIGN_OR_RETURN(std::vector<ListEntry> entries, t.store->List(prefix, /*delimited=*/true));
    if (entries.empty()) {
      // Nothing, or a store whose delimited listing misses prefixes that
      // hold only deeper prefixes (s3rver does): one undelimited listing
      // settles it, and costs one request when the directory is absent.
      OCKPT_ASSIGN_OR_RETURN(entries, t.store->List(prefix, /*delimited=*/false));
      for (ListEntry& e : entries) {
        size_t slash = e.key.find('/', prefix.size());
        if (slash != std::string::npos) e = ListEntry{e.key.substr(0, slash + 1), true, 0, 0};
      }
    }
    for (ListEntry& e : entries) {
      std::string name = e.key.substr(prefix.size());
      if (e.is_prefix && !name.empty() && name.back() == '/') name.pop_back();
      if (name.empty() || name.find('/') != std::string::npos) continue;  // "dir/" marker objects
      out.push_back(DirEntry{std::move(name), e.is_prefix, e.size, e.mtime_ns});
    }
    std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    // A name both a file and a prefix: the directory wins (as a listing shows it).
    out.erase(std::unique(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.name == b.name; }), out.end());
  }
  std::lock_guard<std::mutex> lock(c.mu);
  for (const DirEntry& e : out) {
    PathStat s{true, e.is_dir, e.size, e.mtime_ns};
    if (t.store->can_list()) c.stats[t.store->Url(Child(t.key, e.name))] = s;
  }
  c.listings[t.id] = out;
  return out;
}

}  // namespace

Result<PathStat> Stat(const std::string& url) {
  OCKPT_ASSIGN_OR_RETURN(Target t, Resolve(url));
  if (t.key.empty()) return PathStat{true, true, 0, 0};
  Cache& c = TheCache();
  std::string parent_id;
  size_t slash = t.key.rfind('/');
  std::string parent_key = slash == std::string::npos ? "" : t.key.substr(0, slash);
  parent_id = t.store->Url(parent_key);
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.stats.find(t.id);
    if (it != c.stats.end()) return it->second;
    if (t.store->can_list() && c.listings.count(parent_id)) return PathStat{};  // listed parent, not in it
  }
  if (t.store->can_list() && !parent_key.empty()) {
    // One delimited listing of the parent answers this and every sibling
    // (the locator asks about many names in one directory; the OCDBT reader
    // opens many data files of one d/).
    Target parent{t.store, parent_key, parent_id};
    OCKPT_ASSIGN_OR_RETURN(std::vector<DirEntry> siblings, ListDirOf(parent));
    std::string name = t.key.substr(parent_key.size() + 1);
    PathStat s;
    for (const DirEntry& e : siblings) {
      if (e.name == name) s = PathStat{true, e.is_dir, e.size, e.mtime_ns};
    }
    std::lock_guard<std::mutex> lock(c.mu);
    c.stats[t.id] = s;
    return s;
  }
  PathStat s;
  auto info = t.store->Head(t.key);
  if (info.ok()) {
    s = PathStat{true, false, info->size, info->mtime_ns};
  } else if (info.status().code() != StatusCode::kNotFound) {
    return info.status();
  } else if (!t.store->can_list()) {
    s = PathStat{true, true, 0, 0};  // http(s): anything not a file may be a directory
  } else {
    OCKPT_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, ListDirOf(t));
    if (!entries.empty()) s = PathStat{true, true, 0, 0};
  }
  std::lock_guard<std::mutex> lock(c.mu);
  c.stats[t.id] = s;
  return s;
}

Result<std::vector<DirEntry>> ListDir(const std::string& url) {
  OCKPT_ASSIGN_OR_RETURN(Target t, Resolve(url));
  // An absent prefix lists as empty: on an object store a directory exists
  // once an object is under it (save --step into a new root lists it first).
  return ListDirOf(t);
}

Result<std::vector<DirEntry>> ListTree(const std::string& url) {
  OCKPT_ASSIGN_OR_RETURN(Target t, Resolve(url));
  if (!t.store->can_list()) {
    return UnimplementedError("{}: http(s) URLs cannot be listed (use an s3:// or gs:// URL)", t.id);
  }
  std::string prefix = t.key.empty() ? "" : t.key + "/";
  OCKPT_ASSIGN_OR_RETURN(std::vector<ListEntry> entries, t.store->List(prefix, /*delimited=*/false));
  std::vector<DirEntry> out;
  for (ListEntry& e : entries) {
    std::string name = e.key.substr(prefix.size());
    if (name.empty() || name.back() == '/') continue;
    out.push_back(DirEntry{std::move(name), false, e.size, e.mtime_ns});
  }
  return out;
}

Result<Bytes> ReadFile(const std::string& url, uint64_t max_size) {
  OCKPT_ASSIGN_OR_RETURN(Target t, Resolve(url));
  Cache& c = TheCache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.small.find(t.id);
    if (it != c.small.end()) {
      if (it->second.size() > max_size) return DataLossError("{} is larger than {} bytes", t.id, max_size);
      return it->second;
    }
    auto st = c.stats.find(t.id);
    if (st != c.stats.end() && !st->second.exists) return NotFoundError("{} does not exist", t.id);
  }
  auto data = t.store->Get(t.key, max_size);
  if (!data.ok()) {
    if (data.status().message().find("larger than expected") != std::string::npos) {
      return DataLossError("{} is larger than {} bytes", t.id, max_size);
    }
    return data.status();
  }
  std::lock_guard<std::mutex> lock(c.mu);
  c.stats[t.id] = PathStat{true, false, data->size(), c.stats.count(t.id) ? c.stats[t.id].mtime_ns : 0};
  if (data->size() <= kSmallObject && c.small_bytes + data->size() <= kSmallCacheBytes) {
    c.small_bytes += data->size();
    c.small[t.id] = *data;
  }
  return data;
}

namespace {

// Bytes [offset, offset + n) of an object held in the small-object cache,
// copied out (such objects are at most kSmallObject bytes); nullopt when it
// is not cached.
Result<std::optional<Bytes>> CachedRange(const Target& t, uint64_t offset, uint64_t n) {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.small.find(t.id);
  if (it == c.small.end()) return std::optional<Bytes>();
  if (offset > it->second.size() || n > it->second.size() - offset) {
    return DataLossError("{} is {} bytes; cannot read {} bytes at offset {}", t.id, it->second.size(), n, offset);
  }
  return std::optional<Bytes>(it->second.substr(offset, n));
}

}  // namespace

Status ReadRange(const std::string& url, uint64_t offset, size_t n, char* dst) {
  OCKPT_ASSIGN_OR_RETURN(Target t, Resolve(url));
  OCKPT_ASSIGN_OR_RETURN(std::optional<Bytes> cached, CachedRange(t, offset, n));
  if (cached) {
    std::memcpy(dst, cached->data(), n);
    return Status::Ok();
  }
  return t.store->GetRange(t.key, offset, n, dst);
}

Status ReadRangeTo(const std::string& url, uint64_t offset, uint64_t n, const ByteRangeSink& sink) {
  OCKPT_ASSIGN_OR_RETURN(Target t, Resolve(url));
  OCKPT_ASSIGN_OR_RETURN(std::optional<Bytes> cached, CachedRange(t, offset, n));
  if (cached) return sink(0, *cached);
  return t.store->GetRangeTo(t.key, offset, n, sink);
}

Status WriteFile(const std::string& url, ByteView data) {
  OCKPT_ASSIGN_OR_RETURN(Target t, Resolve(url));
  if (t.key.empty()) return InvalidArgumentError("{}: cannot write an object without a key", url);
  TheCache().Clear();
  return t.store->Put(t.key, data);
}

Status UploadFile(const std::string& url, const std::string& local_path, uint64_t size) {
  OCKPT_ASSIGN_OR_RETURN(Target t, Resolve(url));
  TheCache().Clear();
  return t.store->PutFile(t.key, local_path, size);
}

Status RemoveAll(const std::string& url) {
  OCKPT_ASSIGN_OR_RETURN(Target t, Resolve(url));
  if (!t.store->can_write()) return InvalidArgumentError("{}: http(s) URLs are read-only", t.id);
  if (t.key.empty()) return InvalidArgumentError("{}: refusing to delete a whole bucket", t.id);
  std::string prefix = t.key + "/";
  OCKPT_ASSIGN_OR_RETURN(std::vector<ListEntry> entries, t.store->List(prefix, /*delimited=*/false));
  std::vector<std::string> markers, rest;
  for (const ListEntry& e : entries) {
    std::string_view name = e.key;
    bool marker = name.size() >= 18 && name.substr(name.size() - 18) == "commit_success.txt";
    (marker ? markers : rest).push_back(e.key);
  }
  if (auto self = Stat(url); self.ok() && self->exists && !self->is_dir) rest.push_back(t.key);
  TheCache().Clear();
  // The step's own marker first (shortest key), then the items' markers, then the data.
  std::sort(markers.begin(), markers.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  for (const std::string& k : markers) OCKPT_RETURN_IF_ERROR(t.store->Delete(k));
  std::mutex mu;
  Status failed;
  Parallel(rest.size(), 8, [&](size_t i) {
    Status s = t.store->Delete(rest[i]);
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      if (failed.ok()) failed = s;
    }
  });
  TheCache().Clear();
  return failed;
}

bool Writable(const std::string& url) {
  auto t = Resolve(url);
  return t.ok() && t->store->can_write();
}

}  // namespace ockpt::remote
