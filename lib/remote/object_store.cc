// S3 / GCS XML / http(s) objects over HttpClient, and the URL resolver with
// the AWS CLI's ways of finding credentials and endpoints (Google's are in
// gcs_credentials).

#include "lib/remote/object_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "lib/remote/gcs_credentials.h"

// Designated initializers name only the fields a request needs.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace ockpt::remote {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

bool EnvTrue(const char* name) {
  std::string v = Env(name);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v == "1" || v == "true" || v == "yes";
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// One section of an INI file (~/.aws/credentials, ~/.aws/config).
std::map<std::string, std::string> IniSection(const std::string& path, const std::string& section) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line, current;
  while (std::getline(in, line)) {
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      current = Trim(std::string_view(t).substr(1, t.size() - 2));
      continue;
    }
    if (current != section || std::isspace(static_cast<unsigned char>(line[0]))) continue;
    size_t eq = t.find('=');
    if (eq == std::string::npos) continue;
    out[Trim(std::string_view(t).substr(0, eq))] = Trim(std::string_view(t).substr(eq + 1));
  }
  return out;
}

std::string HomeFile(const char* env_override, const char* rel) {
  std::string p = Env(env_override);
  if (!p.empty()) return p;
  std::string home = Env("HOME");
  return home.empty() ? "" : home + "/" + rel;
}

std::string XmlUnescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out.push_back('&');
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") out.push_back('&');
    else if (ent == "lt") out.push_back('<');
    else if (ent == "gt") out.push_back('>');
    else if (ent == "quot") out.push_back('"');
    else if (ent == "apos") out.push_back('\'');
    else if (!ent.empty() && ent[0] == '#') {
      long c = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X') ? std::strtol(std::string(ent.substr(2)).c_str(), nullptr, 16)
                                                                  : std::strtol(std::string(ent.substr(1)).c_str(), nullptr, 10);
      if (c < 0x80) out.push_back(static_cast<char>(c));
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

// The text of each <tag>...</tag> inside xml, in order.
std::vector<std::string_view> XmlAll(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    size_t a = pos + open.size();
    size_t b = xml.find(close, a);
    if (b == std::string_view::npos) break;
    out.push_back(xml.substr(a, b - a));
    pos = b + close.size();
  }
  return out;
}

std::string XmlOne(std::string_view xml, std::string_view tag) {
  auto all = XmlAll(xml, tag);
  return all.empty() ? "" : XmlUnescape(all[0]);
}

int64_t ParseIsoTimeNs(const std::string& s) {
  struct tm tm = {};
  if (strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return 0;
  return static_cast<int64_t>(timegm(&tm)) * 1000000000;
}

int64_t ParseHttpTimeNs(const std::string& s) {
  struct tm tm = {};
  if (strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S", &tm) == nullptr) return 0;
  return static_cast<int64_t>(timegm(&tm)) * 1000000000;
}

bool HostNeedsPathStyle(std::string_view host) {
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(']') == std::string_view::npos) host = host.substr(0, colon);
  if (host == "localhost" || host.empty() || host.front() == '[') return true;
  return std::all_of(host.begin(), host.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; });
}

}  // namespace

bool IsUrl(std::string_view path) {
  return path.rfind("s3://", 0) == 0 || path.rfind("gs://", 0) == 0 || path.rfind("http://", 0) == 0 ||
         path.rfind("https://", 0) == 0;
}

ObjectStore::ObjectStore(Options options) : options_(std::move(options)), client_(options_.http) {}

std::string ObjectStore::Url(std::string_view key) const {
  if (options_.kind == Kind::kHttp) return options_.base_url + "/" + std::string(key);
  return fmt::format("{}://{}/{}", options_.scheme, options_.bucket, key);
}

std::string ObjectStore::ObjectUrl(std::string_view key, std::string_view query) const {
  std::string url = options_.base_url + "/" + UriEncode(key, true);
  if (!query.empty()) url += "?" + std::string(query);
  return url;
}

Result<ObjectInfo> ObjectStore::Head(const std::string& key) const {
  HttpRequest req{.method = "HEAD", .url = ObjectUrl(key), .auth = &options_.auth};
  auto resp = client_.Send(req, {404, 403, 301, 302, 307, 308});
  if (!resp.ok()) return resp.status();
  // 403 from a HEAD: S3 says so for a missing key without list permission.
  if (resp->status != 200 && resp->status != 204) return NotFoundError("{} does not exist", Url(key));
  ObjectInfo info;
  info.size = std::strtoull(resp->Header("content-length").c_str(), nullptr, 10);
  info.mtime_ns = ParseHttpTimeNs(resp->Header("last-modified"));
  return info;
}

Result<Bytes> ObjectStore::Get(const std::string& key, uint64_t max_size) const {
  HttpRequest req{.method = "GET", .url = ObjectUrl(key), .auth = &options_.auth, .max_body = max_size};
  auto resp = client_.Send(req);
  if (!resp.ok()) {
    if (resp.status().code() == StatusCode::kNotFound) return NotFoundError("{} does not exist", Url(key));
    return resp.status();
  }
  std::string len = resp->Header("content-length");
  if (!len.empty() && std::strtoull(len.c_str(), nullptr, 10) != resp->body.size()) {
    return DataLossError("{}: truncated ({} of {} bytes)", Url(key), resp->body.size(), len);
  }
  return std::move(resp->body);
}

Status ObjectStore::GetRange(const std::string& key, uint64_t offset, size_t n, char* dst) const {
  HttpRequest req{.method = "GET", .url = ObjectUrl(key), .range = std::make_pair(offset, uint64_t{n}),
                  .auth = &options_.auth, .dst = dst};
  auto resp = client_.Send(req);
  if (!resp.ok()) {
    if (resp.status().code() == StatusCode::kNotFound) return NotFoundError("{} does not exist", Url(key));
    return resp.status();
  }
  return Status::Ok();
}

Status ObjectStore::GetRangeTo(const std::string& key, uint64_t offset, uint64_t n,
                               const ByteRangeSink& sink) const {
  HttpRequest req{.method = "GET", .url = ObjectUrl(key), .range = std::make_pair(offset, n),
                  .auth = &options_.auth, .sink = &sink};
  auto resp = client_.Send(req);
  if (!resp.ok()) {
    if (resp.status().code() == StatusCode::kNotFound) return NotFoundError("{} does not exist", Url(key));
    return resp.status();
  }
  return Status::Ok();
}

Status ObjectStore::Put(const std::string& key, ByteView data) const {
  if (!can_write()) return InvalidArgumentError("{}: http(s) URLs are read-only", Url(key));
  HttpRequest req{.method = "PUT", .url = ObjectUrl(key), .body = data, .auth = &options_.auth};
  return client_.Send(req).status();
}

Status ObjectStore::PutFile(const std::string& key, const std::string& local_path, uint64_t size) const {
  if (!can_write()) return InvalidArgumentError("{}: http(s) URLs are read-only", Url(key));
  int fd = ::open(local_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return StatusFromErrno(errno, "open", local_path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  auto read_part = [&](uint64_t off, uint64_t len, Bytes* out) -> Status {
    out->resize(len);
    uint64_t done = 0;
    while (done < len) {
      ssize_t r = ::pread(fd, out->data() + done, len - done, off + done);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return IoError("cannot read {} (spooled upload of {})", local_path, Url(key));
      done += static_cast<uint64_t>(r);
    }
    return Status::Ok();
  };
  if (size <= options_.multipart_threshold) {
    Bytes data;
    OCKPT_RETURN_IF_ERROR(read_part(0, size, &data));
    return Put(key, data);
  }
  // Multipart: initiate, parts (a few at once), complete; abort on failure.
  HttpRequest init{.method = "POST", .url = ObjectUrl(key, "uploads="), .auth = &options_.auth};
  OCKPT_ASSIGN_OR_RETURN(HttpResponse started, client_.Send(init));
  std::string upload_id = XmlOne(started.body, "UploadId");
  if (upload_id.empty()) return IoError("{}: no UploadId in the multipart upload's answer", Url(key));
  const uint64_t part = options_.part_size;
  const size_t parts = static_cast<size_t>((size + part - 1) / part);
  std::vector<std::string> etags(parts);
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status failed;
  auto worker = [&] {
    Bytes buf;
    for (size_t i; (i = next++) < parts;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.ok()) return;
      }
      uint64_t off = i * part, len = std::min(part, size - off);
      Status s = read_part(off, len, &buf);
      if (s.ok()) {
        std::string q = fmt::format("partNumber={}&uploadId={}", i + 1, UriEncode(upload_id, false));
        HttpRequest put{.method = "PUT", .url = ObjectUrl(key, q), .body = buf, .auth = &options_.auth};
        auto resp = client_.Send(put);
        if (resp.ok()) etags[i] = resp->Header("etag");
        else s = resp.status();
      }
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (failed.ok()) failed = s;
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min<size_t>(4, parts); ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  std::string abort_q = "uploadId=" + UriEncode(upload_id, false);
  if (!failed.ok()) {
    client_.Send(HttpRequest{.method = "DELETE", .url = ObjectUrl(key, abort_q), .auth = &options_.auth}).status().IgnoreError();
    return failed;
  }
  std::string body = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < parts; ++i) {
    body += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1, etags[i]);
  }
  body += "</CompleteMultipartUpload>";
  auto done = client_.Send(HttpRequest{.method = "POST", .url = ObjectUrl(key, abort_q), .body = body, .auth = &options_.auth});
  if (!done.ok()) return done.status();
  if (done->body.find("<Error>") != std::string::npos) {
    return IoError("POST {}: multipart upload failed: {} {}", Url(key), XmlOne(done->body, "Code"), XmlOne(done->body, "Message"));
  }
  return Status::Ok();
}

Status ObjectStore::Delete(const std::string& key) const {
  if (!can_write()) return InvalidArgumentError("{}: http(s) URLs are read-only", Url(key));
  auto resp = client_.Send(HttpRequest{.method = "DELETE", .url = ObjectUrl(key), .auth = &options_.auth}, {404});
  return resp.status();
}

Result<std::vector<ListEntry>> ObjectStore::List(const std::string& prefix, bool delimited) const {
  if (!can_list()) return UnimplementedError("{}: http(s) URLs cannot be listed", Url(prefix));
  std::vector<ListEntry> out;
  std::string token;
  for (int page = 0;; ++page) {
    // Query parameters in sorted order, AWS-encoded: the SigV4 canonical form.
    std::string q;
    if (!token.empty()) q += "continuation-token=" + UriEncode(token, false) + "&";
    if (delimited) q += "delimiter=%2F&";
    q += "list-type=2&prefix=" + UriEncode(prefix, false);
    std::string url = options_.base_url + "/?" + q;
    HttpRequest req{.method = "GET", .url = url, .auth = &options_.auth};
    auto resp = client_.Send(req);
    if (!resp.ok()) {
      if (resp.status().code() == StatusCode::kNotFound) {
        return NotFoundError("{}://{}: no such bucket ({})", options_.scheme, options_.bucket, resp.status().message());
      }
      return resp.status();
    }
    for (std::string_view c : XmlAll(resp->body, "Contents")) {
      ListEntry e;
      e.key = XmlOne(c, "Key");
      e.size = std::strtoull(XmlOne(c, "Size").c_str(), nullptr, 10);
      e.mtime_ns = ParseIsoTimeNs(XmlOne(c, "LastModified"));
      out.push_back(std::move(e));
    }
    for (std::string_view c : XmlAll(resp->body, "CommonPrefixes")) {
      ListEntry e;
      e.key = XmlOne(c, "Prefix");
      e.is_prefix = true;
      out.push_back(std::move(e));
    }
    if (XmlOne(resp->body, "IsTruncated") != "true") break;
    token = XmlOne(resp->body, "NextContinuationToken");
    if (token.empty()) return IoError("{}: a truncated listing without a continuation token", Url(prefix));
  }
  std::sort(out.begin(), out.end(), [](const ListEntry& a, const ListEntry& b) { return a.key < b.key; });
  return out;
}

// --- the resolver ---

namespace {

Result<std::shared_ptr<const ObjectStore>> MakeStore(const std::string& scheme, const std::string& authority) {
  ObjectStore::Options o;
  o.scheme = scheme;
  o.http = HttpConfig::FromEnv();
  // Objects above OCKPT_REMOTE_MULTIPART_MB go up in parts of half that size.
  if (std::string mb = Env("OCKPT_REMOTE_MULTIPART_MB"); !mb.empty()) {
    char* end = nullptr;
    double v = std::strtod(mb.c_str(), &end);
    if (end == mb.c_str() || *end != '\0' || !(v > 0) || v > 1e6) {
      return InvalidArgumentError("OCKPT_REMOTE_MULTIPART_MB={} is not a size in MiB", mb);
    }
    o.multipart_threshold = std::max<uint64_t>(2, static_cast<uint64_t>(v * (1 << 20)));
    o.part_size = o.multipart_threshold / 2;
  }
  if (scheme == "http" || scheme == "https") {
    o.kind = ObjectStore::Kind::kHttp;
    o.base_url = scheme + "://" + authority;
    return std::make_shared<const ObjectStore>(std::move(o));
  }
  o.bucket = authority;
  if (authority.empty()) return InvalidArgumentError("{}:// URL without a bucket", scheme);
  bool gcs = scheme == "gs";
  bool hmac = gcs && EnvTrue("OCKPT_GCS_HMAC");
  o.kind = gcs ? ObjectStore::Kind::kGcs : ObjectStore::Kind::kS3;
  std::string profile = Env("AWS_PROFILE");
  if (profile.empty()) profile = Env("AWS_DEFAULT_PROFILE");
  if (profile.empty()) profile = "default";
  auto creds = IniSection(HomeFile("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"), profile);
  auto config = IniSection(HomeFile("AWS_CONFIG_FILE", ".aws/config"),
                           profile == "default" ? "default" : "profile " + profile);
  auto pick = [&](const char* env, const char* key) {
    std::string v = Env(env);
    if (v.empty() && creds.count(key)) v = creds[key];
    if (v.empty() && config.count(key)) v = config[key];
    return v;
  };
  std::string region = Env("AWS_REGION");
  if (region.empty()) region = pick("AWS_DEFAULT_REGION", "region");
  if (region.empty()) region = gcs ? "auto" : "us-east-1";
  std::string endpoint;
  if (gcs) {
    endpoint = Env("OCKPT_GCS_ENDPOINT");
    if (endpoint.empty()) endpoint = "https://storage.googleapis.com";
  } else {
    endpoint = Env("AWS_ENDPOINT_URL_S3");
    if (endpoint.empty()) endpoint = Env("AWS_ENDPOINT_URL");
    if (endpoint.empty() && config.count("endpoint_url")) endpoint = config["endpoint_url"];
  }
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (!gcs || hmac) {
    std::string id = pick("AWS_ACCESS_KEY_ID", "aws_access_key_id");
    std::string secret = pick("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key");
    if (!id.empty() && !secret.empty()) {
      o.auth.sigv4 = fmt::format("aws:amz:{}:s3", region);
      o.auth.userpwd = id + ":" + secret;
      o.auth.session_token = pick("AWS_SESSION_TOKEN", "aws_session_token");
    } else if (hmac) {
      return InvalidArgumentError("gs://{}: OCKPT_GCS_HMAC is set but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not", authority);
    }
  } else {
    // A token, a credentials file, or nothing (public buckets).
    OCKPT_RETURN_IF_ERROR(FindGcsCredentials(o.http, &o.auth));
  }
  if (gcs) {
    o.base_url = endpoint + "/" + authority;
  } else if (endpoint.empty()) {
    bool path_style = EnvTrue("AWS_S3_FORCE_PATH_STYLE") || authority.find('.') != std::string::npos;
    o.base_url = path_style ? fmt::format("https://s3.{}.amazonaws.com/{}", region, authority)
                            : fmt::format("https://{}.s3.{}.amazonaws.com", authority, region);
  } else {
    size_t scheme_end = endpoint.find("://");
    std::string host = scheme_end == std::string::npos ? endpoint : endpoint.substr(scheme_end + 3);
    host = host.substr(0, host.find('/'));
    bool path_style = EnvTrue("AWS_S3_FORCE_PATH_STYLE") || HostNeedsPathStyle(host);
    if (path_style) {
      o.base_url = endpoint + "/" + authority;
    } else {
      std::string proto = scheme_end == std::string::npos ? "https" : endpoint.substr(0, scheme_end);
      o.base_url = proto + "://" + authority + "." + endpoint.substr(scheme_end == std::string::npos ? 0 : scheme_end + 3);
    }
  }
  return std::make_shared<const ObjectStore>(std::move(o));
}

}  // namespace

Result<Resolved> StoreForUrl(std::string_view url) {
  size_t colon = url.find("://");
  if (colon == std::string_view::npos || !IsUrl(url)) return InvalidArgumentError("{} is not a URL", url);
  std::string scheme(url.substr(0, colon));
  std::string_view rest = url.substr(colon + 3);
  size_t slash = rest.find('/');
  std::string authority(rest.substr(0, slash));
  std::string key = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  // Normalise the key: no empty or "." components, no leading/trailing '/'.
  std::string norm;
  size_t pos = 0;
  while (pos <= key.size()) {
    size_t next = key.find('/', pos);
    if (next == std::string::npos) next = key.size();
    std::string_view part = std::string_view(key).substr(pos, next - pos);
    if (part == "..") return InvalidArgumentError("{}: '..' is not allowed in a URL path", url);
    if (!part.empty() && part != ".") {
      if (!norm.empty()) norm.push_back('/');
      norm.append(part);
    }
    pos = next + 1;
  }
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const ObjectStore>>* stores =
      new std::map<std::string, std::shared_ptr<const ObjectStore>>();
  std::string id = scheme + "://" + authority;
  std::lock_guard<std::mutex> lock(mu);
  auto it = stores->find(id);
  if (it == stores->end()) {
    OCKPT_ASSIGN_OR_RETURN(std::shared_ptr<const ObjectStore> store, MakeStore(scheme, authority));
    it = stores->emplace(id, std::move(store)).first;
  }
  return Resolved{it->second, std::move(norm)};
}

}  // namespace ockpt::remote
