// Google credentials files, the service-account JWT (OpenSSL RS256), the
// OAuth2 token exchange over HttpClient and the lookup order.

#include "lib/remote/gcs_credentials.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <memory>

#include "lib/base/base64.h"
#include "lib/base/file.h"
#include "lib/base/json.h"

// Designated initializers name only the fields a request needs.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace ockpt::remote {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

int64_t UnixNow() { return static_cast<int64_t>(std::time(nullptr)); }

std::string Base64Url(ByteView data) {
  std::string s = Base64Encode(data, /*url_safe=*/true);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The PEM private key; never a passphrase prompt (an encrypted key fails).
Result<Pkey> LoadRsaKey(const std::string& pem, const std::string& path) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return InternalError("{}: out of memory reading private_key", path);
  auto no_passphrase = [](char*, int, int, void*) { return 0; };
  Pkey key(PEM_read_bio_PrivateKey(bio, nullptr, no_passphrase, nullptr));
  BIO_free(bio);
  ERR_clear_error();
  if (key == nullptr) {
    return InvalidArgumentError("{}: private_key is not an unencrypted PEM private key", path);
  }
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return InvalidArgumentError("{}: private_key is not an RSA key (RS256 needs one)", path);
  }
  return key;
}

Result<std::string> SignRs256(const std::string& pem, std::string_view data,
                              const std::string& path) {
  OCKPT_ASSIGN_OR_RETURN(Pkey key, LoadRsaKey(pem, path));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  std::string sig;
  bool ok = ctx != nullptr &&
            EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
            EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                        data.size()) == 1;
    sig.resize(len);
  }
  ERR_clear_error();
  if (!ok) return InternalError("{}: signing the JWT with private_key failed", path);
  return sig;
}

// A string member, kInvalidArgument naming the file when absent or empty.
Result<std::string> Member(const nlohmann::ordered_json& j, const char* name,
                           const std::string& path, const std::string& type) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string() || it->get<std::string>().empty()) {
    return InvalidArgumentError("{}: a \"{}\" credentials file needs a \"{}\" string", path, type,
                                name);
  }
  return it->get<std::string>();
}

std::string Optional(const nlohmann::ordered_json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

Result<GoogleCredentials> ParseGoogleCredentials(ByteView text, const std::string& path) {
  // No parser detail in the message: it could quote the key.
  auto parsed =
      ParseJsonBounded(text, path, JsonLimits{.max_depth = 16, .max_bytes = size_t{1} << 20});
  if (!parsed.ok() || !parsed->is_object()) {
    return InvalidArgumentError("{}: not a Google credentials file (a JSON object)", path);
  }
  const nlohmann::ordered_json& j = *parsed;
  GoogleCredentials c;
  c.path = path;
  c.type = Optional(j, "type");
  if (c.type == "service_account") {
    OCKPT_ASSIGN_OR_RETURN(c.client_email, Member(j, "client_email", path, c.type));
    OCKPT_ASSIGN_OR_RETURN(c.private_key, Member(j, "private_key", path, c.type));
    c.private_key_id = Optional(j, "private_key_id");
    OCKPT_RETURN_IF_ERROR(LoadRsaKey(c.private_key, path).status());
  } else if (c.type == "authorized_user") {
    OCKPT_ASSIGN_OR_RETURN(c.client_id, Member(j, "client_id", path, c.type));
    OCKPT_ASSIGN_OR_RETURN(c.client_secret, Member(j, "client_secret", path, c.type));
    OCKPT_ASSIGN_OR_RETURN(c.refresh_token, Member(j, "refresh_token", path, c.type));
  } else {
    return InvalidArgumentError(
        "{}: credentials of type \"{}\" are not supported (service_account and "
        "authorized_user are); set GOOGLE_OAUTH_ACCESS_TOKEN=$(gcloud auth print-access-token) "
        "instead",
        path, c.type);
  }
  c.token_uri = Env("OCKPT_GCS_TOKEN_URI");
  if (c.token_uri.empty()) c.token_uri = Optional(j, "token_uri");
  if (c.token_uri.empty()) c.token_uri = std::string(kGoogleTokenUri);
  return c;
}

Result<GoogleCredentials> ReadGoogleCredentials(const std::string& path) {
  auto text = ReadFile(path, uint64_t{1} << 20);
  if (!text.ok()) {
    return InvalidArgumentError("cannot read the Google credentials file {}: {}", path,
                                text.status().message());
  }
  return ParseGoogleCredentials(*text, path);
}

Result<std::string> ServiceAccountJwt(const GoogleCredentials& creds, int64_t now,
                                      std::string_view scope) {
  if (creds.type != "service_account") {
    return InvalidArgumentError("{}: a JWT needs a service_account file, not {}", creds.path,
                                creds.type);
  }
  nlohmann::ordered_json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!creds.private_key_id.empty()) header["kid"] = creds.private_key_id;
  nlohmann::ordered_json claims = {{"iss", creds.client_email},
                                   {"scope", scope},
                                   {"aud", creds.token_uri},
                                   {"iat", now},
                                   {"exp", now + 3600}};
  std::string signing_input = Base64Url(DumpJson(header)) + "." + Base64Url(DumpJson(claims));
  OCKPT_ASSIGN_OR_RETURN(std::string sig, SignRs256(creds.private_key, signing_input, creds.path));
  return signing_input + "." + Base64Url(sig);
}

Result<std::string> TokenRequestBody(const GoogleCredentials& creds, int64_t now) {
  if (creds.type == "service_account") {
    OCKPT_ASSIGN_OR_RETURN(std::string jwt, ServiceAccountJwt(creds, now));
    return "grant_type=" + UriEncode("urn:ietf:params:oauth:grant-type:jwt-bearer", false) +
           "&assertion=" + UriEncode(jwt, false);
  }
  return "grant_type=refresh_token&client_id=" + UriEncode(creds.client_id, false) +
         "&client_secret=" + UriEncode(creds.client_secret, false) +
         "&refresh_token=" + UriEncode(creds.refresh_token, false);
}

Result<AccessToken> FetchAccessToken(const GoogleCredentials& creds, const HttpClient& client) {
  OCKPT_ASSIGN_OR_RETURN(std::string body, TokenRequestBody(creds, UnixNow()));
  HttpRequest req{
      .method = "POST",
      .url = creds.token_uri,
      .headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"},
      .body = body,
      .max_body = uint64_t{1} << 20};
  // 4xx answers carry OAuth's {"error", "error_description"}: read them here.
  auto resp = client.Send(req, {400, 401, 403, 404, 405});
  const std::string what =
      fmt::format("{}: cannot get an access token from {}", creds.path, creds.token_uri);
  if (!resp.ok()) return IoError("{}: {}", what, resp.status().message());
  auto j = ParseJsonBounded(resp->body, creds.token_uri,
                            JsonLimits{.max_depth = 16, .max_bytes = size_t{1} << 20});
  if (resp->status < 200 || resp->status >= 300) {
    std::string error, description;
    if (j.ok() && j->is_object()) {
      error = Optional(*j, "error");
      description = Optional(*j, "error_description");
    }
    return IoError("{}: HTTP {}{}{}", what, resp->status, error.empty() ? "" : " " + error,
                   description.empty() ? "" : ": " + description);
  }
  if (!j.ok() || !j->is_object()) return IoError("{}: the answer is not a JSON object", what);
  AccessToken t;
  t.token = Optional(*j, "access_token");
  if (t.token.empty()) return IoError("{}: the answer has no access_token", what);
  t.expires_in = 3600;
  if (auto it = j->find("expires_in"); it != j->end() && it->is_number() && it->get<double>() > 0) {
    t.expires_in = static_cast<int64_t>(it->get<double>());
  }
  return t;
}

GoogleTokenSource::GoogleTokenSource(GoogleCredentials creds, const HttpConfig& http)
    : creds_(std::move(creds)), client_(http) {}

Result<std::string> GoogleTokenSource::Token() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = UnixNow();
  if (token_.empty() || now >= renew_at_) {
    OCKPT_ASSIGN_OR_RETURN(AccessToken t, FetchAccessToken(creds_, client_));
    token_ = std::move(t.token);
    renew_at_ = now + t.expires_in - std::min<int64_t>(300, t.expires_in / 4);
  }
  return token_;
}

void GoogleTokenSource::Invalidate(const std::string& stale) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (token_ == stale) token_.clear();
}

Status FindGcsCredentials(const HttpConfig& http, HttpAuth* auth) {
  if (std::string token = Env("GOOGLE_OAUTH_ACCESS_TOKEN"); !token.empty()) {
    auth->bearer = token;
    return Status::Ok();
  }
  std::string path = Env("GOOGLE_APPLICATION_CREDENTIALS");
  if (path.empty()) {
    std::string dir = Env("CLOUDSDK_CONFIG");
    if (dir.empty() && !Env("HOME").empty()) dir = Env("HOME") + "/.config/gcloud";
    std::string adc = dir.empty() ? "" : dir + "/application_default_credentials.json";
    if (adc.empty() || !PathExists(adc)) return Status::Ok();  // unauthenticated
    path = adc;
  }
  OCKPT_ASSIGN_OR_RETURN(GoogleCredentials creds, ReadGoogleCredentials(path));
  auto source = std::make_shared<GoogleTokenSource>(std::move(creds), http);
  OCKPT_RETURN_IF_ERROR(source->Token().status());
  auth->token_source = std::move(source);
  return Status::Ok();
}

}  // namespace ockpt::remote
