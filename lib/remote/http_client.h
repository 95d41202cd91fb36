// HttpClient: the one place ockpt speaks HTTP (libcurl). Owns the pool of
// reusable connections, the bound on concurrent requests and on bytes in
// flight, timeouts, and retries with exponential backoff and jitter on
// network errors, truncated bodies, 429 and 5xx (Retry-After honoured).
// Errors name the method, URL, HTTP status and the store's error code.

#ifndef OCKPT_LIB_REMOTE_HTTP_CLIENT_H_
#define OCKPT_LIB_REMOTE_HTTP_CLIENT_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/bytes.h"
#include "lib/base/result.h"

namespace ockpt::remote {

// Settings from the environment (docs/remote.md):
//   OCKPT_REMOTE_TIMEOUT   seconds one request may take, retries included (60)
//   OCKPT_REMOTE_RETRIES   attempts after the first (10)
//   OCKPT_REMOTE_REQUESTS  concurrent requests (16)
//   OCKPT_REMOTE_INFLIGHT_MB  bytes of responses in flight (512)
struct HttpConfig {
  double timeout_s = 60;
  int retries = 10;
  int max_requests = 16;
  uint64_t max_inflight_bytes = uint64_t{512} << 20;
  static HttpConfig FromEnv();
};

// A bearer token that expires (OAuth2 from a credentials file,
// lib/remote/gcs_credentials.h): asked for before every attempt, so it can
// renew itself shortly before it expires.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // The token to send now (fetched anew when the last one is about to expire).
  virtual Result<std::string> Token() const = 0;
  // The server refused `stale` (HTTP 401): the next Token() fetches a new one
  // (unless another request already did).
  virtual void Invalidate(const std::string& stale) const = 0;
};

struct HttpAuth {
  // SigV4 (S3, GCS HMAC): "aws:amz:<region>:s3" and "<key id>:<secret>".
  std::string sigv4;
  std::string userpwd;
  std::string session_token;  // x-amz-security-token
  std::string bearer;         // Authorization: Bearer (a fixed token)
  // Authorization: Bearer from a source that renews it; a 401 answer makes
  // Send fetch a new token and try once more (not counted as a retry).
  std::shared_ptr<const TokenSource> token_source;
};

struct HttpRequest {
  std::string method = "GET";  // GET HEAD PUT POST DELETE
  std::string url;
  // Extra headers ("Name: value"); a Content-Type here replaces the
  // default application/octet-stream of a PUT or POST.
  std::vector<std::string> headers;
  // Ranged GET: bytes [offset, offset + length).
  std::optional<std::pair<uint64_t, uint64_t>> range;
  ByteView body;  // PUT / POST
  const HttpAuth* auth = nullptr;
  // Into caller memory (exactly range length bytes), else into response body.
  char* dst = nullptr;
  // Or, for a ranged GET, handed to this sink as the bytes arrive (no
  // buffer of the range's size): a retry after a partial body asks for the
  // rest only, so the sink sees every byte once, in order.
  const ByteRangeSink* sink = nullptr;
  uint64_t max_body = uint64_t{1} << 32;
};

struct HttpResponse {
  long status = 0;
  Bytes body;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(HttpConfig config);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends with retries. A 2xx response is returned; 404 is kNotFound; any
  // other status (after retries where they apply) is kIoError naming the URL,
  // the status and the store's <Code>. Statuses in `accept` are returned as
  // responses instead (e.g. 404 for HEAD).
  Result<HttpResponse> Send(const HttpRequest& request, std::vector<long> accept = {}) const;

  const HttpConfig& config() const { return config_; }

 private:
  struct Gate;
  void* TakeHandle() const;
  void ReturnHandle(void* handle) const;
  HttpConfig config_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable int requests_ = 0;
  mutable uint64_t bytes_ = 0;
  mutable std::vector<void*> idle_;
  // Set when a request failed on the network after all retries (server
  // gone): later requests fail at once with the same error instead of each
  // waiting out the timeout again.
  mutable std::string broken_;
};

// AWS URI encoding (RFC 3986 unreserved kept); '/' kept when keep_slash.
std::string UriEncode(std::string_view s, bool keep_slash);

}  // namespace ockpt::remote

#endif  // OCKPT_LIB_REMOTE_HTTP_CLIENT_H_
