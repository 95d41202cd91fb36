// Path-level operations on URLs, for lib/base/file.h: file.h's functions
// hand every s3://, gs://, http:// and https:// path here, so that the
// formats see one file API and the question "what is this path" is answered
// in one place. Objects are files; a key prefix ending at '/' is a
// directory. Listings, object sizes and small objects are cached for the
// life of the process (a write or delete clears the cache), so that nothing
// is fetched twice. http(s) sites cannot be listed: a directory's entries are
// found by probing the names a checkpoint holds (see ListDir).

#ifndef OCKPT_LIB_REMOTE_REMOTE_FS_H_
#define OCKPT_LIB_REMOTE_REMOTE_FS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "lib/base/bytes.h"
#include "lib/base/result.h"

namespace ockpt::remote {

struct PathStat {
  bool exists = false;
  bool is_dir = false;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};
// kOk with exists=false when absent; an error only when the store failed.
Result<PathStat> Stat(const std::string& url);

struct DirEntry {
  std::string name;  // one component (ListDir) or a relative path (ListTree)
  bool is_dir = false;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};
// One level, sorted by name.
Result<std::vector<DirEntry>> ListDir(const std::string& url);
// Every object below url (relative paths, sorted); kUnimplemented for http(s).
Result<std::vector<DirEntry>> ListTree(const std::string& url);

Result<Bytes> ReadFile(const std::string& url, uint64_t max_size);
Status ReadRange(const std::string& url, uint64_t offset, size_t n, char* dst);
// The same range handed to `sink` as it arrives (ranged GET, no buffer).
Status ReadRangeTo(const std::string& url, uint64_t offset, uint64_t n, const ByteRangeSink& sink);

Status WriteFile(const std::string& url, ByteView data);
// Uploads a local file (multipart when large) as the object url.
Status UploadFile(const std::string& url, const std::string& local_path, uint64_t size);
// Deletes url and every object below it: commit_success.txt markers first,
// so that a half-deleted step never looks committed.
Status RemoveAll(const std::string& url);

// Whether url's store can be written (not http(s)).
bool Writable(const std::string& url);

}  // namespace ockpt::remote

#endif  // OCKPT_LIB_REMOTE_REMOTE_FS_H_
