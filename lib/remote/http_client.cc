// libcurl requests with a bounded pool, retries and store error parsing.

#include "lib/remote/http_client.h"

#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "lib/base/sha256.h"

namespace ockpt::remote {

namespace {

using Clock = std::chrono::steady_clock;

double EnvNumber(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  double d = std::strtod(v, &end);
  return (end != v && d > 0) ? d : fallback;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  const HttpRequest* req = nullptr;
  HttpResponse* resp = nullptr;
  uint64_t received = 0;
  bool overflow = false;
  // Sink requests: bytes of the range delivered by earlier attempts, the
  // sink's error, and a 200 answer (the Range header ignored).
  uint64_t base = 0;
  uint64_t sunk = 0;  // bytes this attempt handed to the sink
  Status sink_error;
  bool range_ignored = false;
};

size_t OnBody(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  if (t->req->sink != nullptr && t->resp->status >= 200 && t->resp->status < 300) {
    if (t->resp->status != 206) {
      t->range_ignored = true;
      return 0;
    }
    if (t->base + t->sunk + n > t->req->range->second) {
      t->overflow = true;
      return 0;
    }
    Status s = (*t->req->sink)(t->base + t->sunk, ByteView(ptr, n));
    if (!s.ok()) {
      t->sink_error = std::move(s);
      return 0;
    }
    t->sunk += n;
    return n;
  }
  if (t->req->dst != nullptr) {
    uint64_t want = t->req->range ? t->req->range->second : 0;
    // Only a 2xx body goes to caller memory; an error body is kept for its message.
    if (t->resp->status >= 200 && t->resp->status < 300) {
      if (t->received + n > want) {
        t->overflow = true;
        return 0;
      }
      std::memcpy(t->req->dst + t->received, ptr, n);
      t->received += n;
      return n;
    }
  }
  if (t->resp->body.size() + n > t->req->max_body) {
    t->overflow = true;
    return 0;
  }
  t->resp->body.append(ptr, n);
  t->received += n;
  return n;
}

size_t OnHeader(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  std::string_view line(ptr, n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (redirect, 100-continue)
    t->resp->headers.clear();
    size_t sp = line.find(' ');
    if (sp != std::string_view::npos) t->resp->status = std::strtol(std::string(line.substr(sp + 1, 3)).c_str(), nullptr, 10);
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  t->resp->headers[name] = std::string(value);
  return n;
}

std::string XmlField(std::string_view xml, std::string_view tag) {
  std::string open = "<" + std::string(tag) + ">";
  std::string close = "</" + std::string(tag) + ">";
  size_t a = xml.find(open);
  if (a == std::string_view::npos) return "";
  a += open.size();
  size_t b = xml.find(close, a);
  if (b == std::string_view::npos) return "";
  return std::string(xml.substr(a, b - a));
}

bool Retryable(long status) { return status == 408 || status == 429 || status >= 500; }

}  // namespace

HttpConfig HttpConfig::FromEnv() {
  HttpConfig c;
  c.timeout_s = EnvNumber("OCKPT_REMOTE_TIMEOUT", c.timeout_s);
  const char* r = std::getenv("OCKPT_REMOTE_RETRIES");
  if (r != nullptr && *r != '\0') c.retries = std::max(0, std::atoi(r));
  c.max_requests = static_cast<int>(EnvNumber("OCKPT_REMOTE_REQUESTS", c.max_requests));
  c.max_inflight_bytes = static_cast<uint64_t>(EnvNumber("OCKPT_REMOTE_INFLIGHT_MB", 512)) << 20;
  return c;
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

HttpClient::HttpClient(HttpConfig config) : config_(config) { GlobalInit(); }

HttpClient::~HttpClient() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* HttpClient::TakeHandle() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void HttpClient::ReturnHandle(void* handle) const {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(handle);
}

Result<HttpResponse> HttpClient::Send(const HttpRequest& req, std::vector<long> accept) const {
  if (req.range && req.range->second == 0) return HttpResponse{206, {}, {}};
  if (req.sink != nullptr && (!req.range || req.method != "GET")) {
    return InternalError("{} {}: a sink takes the body of a ranged GET only", req.method, req.url);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_.empty()) return IoError("{} {}: {}", req.method, req.url, broken_);
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(config_.timeout_s * 1000));
  // The bound on requests and on response bytes in flight.
  // (A sink holds its own few buffers, not the response: it counts nothing,
  // so that two large frames streamed side by side do not wait on each other.)
  const uint64_t want_bytes =
      req.sink != nullptr
          ? 0
          : std::min<uint64_t>(req.range ? req.range->second : 0, config_.max_inflight_bytes);
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] {
      return requests_ < config_.max_requests &&
             (bytes_ == 0 || bytes_ + want_bytes <= config_.max_inflight_bytes);
    });
    ++requests_;
    bytes_ += want_bytes;
  }
  struct Release {
    const HttpClient* c;
    uint64_t bytes;
    ~Release() {
      {
        std::lock_guard<std::mutex> lock(c->mu_);
        --c->requests_;
        c->bytes_ -= bytes;
      }
      c->cv_.notify_all();
    }
  } release{this, want_bytes};

  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string last_error;
  const std::string what = req.method + " " + req.url;
  bool renewed = false;
  uint64_t delivered = 0;  // sink requests: bytes the sink has taken
  for (int attempt = 0;; ++attempt) {
    HttpResponse resp;
    Transfer t;
    t.req = &req;
    t.resp = &resp;
    t.base = delivered;
    CURL* h = static_cast<CURL*>(TakeHandle());
    if (h == nullptr) return InternalError("{}: cannot create a curl handle", what);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    long left_ms = std::max<long>(1, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, std::min<long>(left_ms, 10000));
    // A stalled transfer (no byte for the rest of the budget, at most 30 s) is a failed attempt.
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, std::max<long>(1, std::min<long>(left_ms / 1000, 30)));
    if (req.dst == nullptr && !req.range) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, left_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, nullptr);
    struct curl_slist* headers = nullptr;
    for (const std::string& hd : req.headers) headers = curl_slist_append(headers, hd.c_str());
    headers = curl_slist_append(headers, "Expect:");
    std::string range;
    if (req.range) {
      range = fmt::format("{}-{}", req.range->first + delivered,
                          req.range->first + req.range->second - 1);
      curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
    }
    // Bodies into place: larger receive pieces, fewer callbacks and writes.
    if (req.sink != nullptr || req.dst != nullptr) {
      curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
    }
    if (req.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (req.method == "PUT" || req.method == "POST") {
      // POSTFIELDS (also for PUT): libcurl's SigV4 then hashes the payload itself.
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
      if (req.method == "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
      bool typed = std::any_of(req.headers.begin(), req.headers.end(), [](const std::string& hd) {
        return hd.size() >= 13 && strncasecmp(hd.c_str(), "content-type:", 13) == 0;
      });
      if (!typed) headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
    } else if (req.method != "GET") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    std::string token_header, sha_header, bearer;
    if (req.auth != nullptr) {
      if (!req.auth->sigv4.empty()) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, req.auth->sigv4.c_str());
        curl_easy_setopt(h, CURLOPT_USERPWD, req.auth->userpwd.c_str());
        sha_header = "x-amz-content-sha256: " + Sha256Hex(req.body);
        headers = curl_slist_append(headers, sha_header.c_str());
        if (!req.auth->session_token.empty()) {
          token_header = "x-amz-security-token: " + req.auth->session_token;
          headers = curl_slist_append(headers, token_header.c_str());
        }
      } else if (req.auth->token_source != nullptr) {
        Result<std::string> token = req.auth->token_source->Token();
        if (!token.ok()) {
          curl_slist_free_all(headers);
          ReturnHandle(h);
          return token.status();
        }
        bearer = *std::move(token);
        token_header = "Authorization: Bearer " + bearer;
        headers = curl_slist_append(headers, token_header.c_str());
      } else if (!req.auth->bearer.empty()) {
        token_header = "Authorization: Bearer " + req.auth->bearer;
        headers = curl_slist_append(headers, token_header.c_str());
      }
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    if (rc == CURLE_OK || status != 0) resp.status = status;
    ReturnHandle(h);

    double retry_after_s = -1;
    if (req.sink != nullptr) {
      if (!t.sink_error.ok()) return std::move(t.sink_error);
      if (t.range_ignored) return IoError("{}: the server ignored the Range header (HTTP 200)", what);
      delivered += t.sunk;
      // Every byte arrived (a connection dropped after the last one is no
      // failure): done, whatever the transfer's end said.
      if (delivered == req.range->second) {
        resp.status = 206;
        return resp;
      }
    }
    if (rc != CURLE_OK) {
      last_error = t.overflow ? fmt::format("the response is larger than expected")
                              : fmt::format("{}", curl_easy_strerror(rc));
    } else if (std::find(accept.begin(), accept.end(), resp.status) != accept.end()) {
      return resp;
    } else if (resp.status >= 200 && resp.status < 300) {
      // A short body is a truncated transfer: try again.
      if (req.sink != nullptr && delivered != req.range->second) {
        last_error = fmt::format("truncated body ({} of {} bytes)", delivered, req.range->second);
      } else if (req.dst != nullptr && req.range && resp.status == 206 && t.received != req.range->second) {
        last_error = fmt::format("truncated body ({} of {} bytes)", t.received, req.range->second);
      } else if (req.dst != nullptr && req.range && resp.status == 200) {
        return IoError("{}: the server ignored the Range header (HTTP 200)", what);
      } else {
        return resp;
      }
    } else {
      std::string code = XmlField(resp.body, "Code");
      std::string message = XmlField(resp.body, "Message");
      last_error = fmt::format("HTTP {}{}{}", resp.status, code.empty() ? "" : " " + code,
                               message.empty() ? "" : ": " + message);
      if (resp.status == 404) return NotFoundError("{}: {}", what, last_error);
      // An expired or revoked token: renew it once and try again at once.
      if (resp.status == 401 && !bearer.empty() && !renewed) {
        renewed = true;
        req.auth->token_source->Invalidate(bearer);
        --attempt;
        continue;
      }
      if (!Retryable(resp.status)) return IoError("{}: {}", what, last_error);
      if (std::string ra = resp.Header("retry-after"); !ra.empty()) {
        retry_after_s = std::strtod(ra.c_str(), nullptr);
      }
    }
    auto give_up = [&](Status s) {
      if (rc != CURLE_OK && !t.overflow) {
        std::lock_guard<std::mutex> lock(mu_);
        broken_ = last_error + " (an earlier request gave up)";
      }
      return s;
    };
    if (attempt >= config_.retries) {
      return give_up(IoError("{}: {} (gave up after {} attempt{})", what, last_error, attempt + 1,
                     attempt == 0 ? "" : "s"));
    }
    // Exponential backoff with full jitter (100 ms base, 10 s cap), or Retry-After.
    double cap = std::min(10.0, 0.1 * static_cast<double>(uint64_t{1} << std::min(attempt, 10)));
    double wait = retry_after_s >= 0 ? retry_after_s : std::uniform_real_distribution<double>(0, cap)(rng);
    auto resume = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(wait * 1000));
    if (resume >= deadline) {
      return give_up(IoError("{}: {} (gave up after {} attempt{}, timeout {} s)", what, last_error, attempt + 1,
                     attempt == 0 ? "" : "s", config_.timeout_s));
    }
    std::this_thread::sleep_until(resume);
  }
}

}  // namespace ockpt::remote
