// ObjectStore: one bucket (or one http(s) site) as keyed objects: HEAD,
// ranged GET, PUT (multipart for large objects), DELETE and a delimited,
// paginated listing. S3 (SigV4), Cloud Storage's XML API (bearer token or
// HMAC) and read-only http(s) share one implementation over HttpClient.
// StoreForUrl is the resolver: the one place a URL's scheme picks a store.

#ifndef OCKPT_LIB_REMOTE_OBJECT_STORE_H_
#define OCKPT_LIB_REMOTE_OBJECT_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/bytes.h"
#include "lib/base/result.h"
#include "lib/remote/http_client.h"

namespace ockpt::remote {

struct ObjectInfo {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

struct ListEntry {
  std::string key;       // full key; a common prefix ends with '/'
  bool is_prefix = false;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

class ObjectStore {
 public:
  enum class Kind { kS3, kGcs, kHttp };
  struct Options {
    Kind kind = Kind::kS3;
    std::string scheme;       // "s3", "gs", "http", "https": for messages
    std::string bucket;       // "" for http
    std::string base_url;     // objects are base_url + "/" + encoded key
    HttpAuth auth;
    HttpConfig http;
    // OCKPT_REMOTE_MULTIPART_MB sets the threshold; parts are half of it.
    uint64_t multipart_threshold = uint64_t{64} << 20;
    uint64_t part_size = uint64_t{32} << 20;
  };
  explicit ObjectStore(Options options);

  bool can_list() const { return options_.kind != Kind::kHttp; }
  bool can_write() const { return options_.kind != Kind::kHttp; }
  // "s3://bucket/key", "https://host/key": how messages name an object.
  std::string Url(std::string_view key) const;

  Result<ObjectInfo> Head(const std::string& key) const;  // kNotFound when absent
  Result<Bytes> Get(const std::string& key, uint64_t max_size) const;
  Status GetRange(const std::string& key, uint64_t offset, size_t n, char* dst) const;
  // The same range handed to `sink` as it arrives (no buffer of its size).
  Status GetRangeTo(const std::string& key, uint64_t offset, uint64_t n,
                    const ByteRangeSink& sink) const;
  Status Put(const std::string& key, ByteView data) const;
  // A local file as one object: one PUT, or a multipart upload (parts sent
  // concurrently) above the threshold.
  Status PutFile(const std::string& key, const std::string& local_path, uint64_t size) const;
  Status Delete(const std::string& key) const;  // absent is ok
  // Every object under prefix (delimited: one level, with common prefixes).
  Result<std::vector<ListEntry>> List(const std::string& prefix, bool delimited) const;

 private:
  std::string ObjectUrl(std::string_view key, std::string_view query = "") const;
  Options options_;
  HttpClient client_;
};

// The store for a URL (s3://, gs://, http://, https://) and the key in it
// (no leading or trailing '/'). Stores are made once per bucket or site,
// from the environment (docs/remote.md), and shared.
struct Resolved {
  std::shared_ptr<const ObjectStore> store;
  std::string key;
};
Result<Resolved> StoreForUrl(std::string_view url);

// True for the URL schemes above.
bool IsUrl(std::string_view path);

}  // namespace ockpt::remote

#endif  // OCKPT_LIB_REMOTE_OBJECT_STORE_H_
