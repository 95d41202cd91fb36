// lib/remote/gcs_credentials without a server: the service-account JWT
// (three base64url parts, the claims, an RS256 signature that verifies
// against the public half of a key made here), the token request bodies,
// credentials-file errors that name the file and quote no secret, and the
// lookup order (token, file, gcloud's ADC file, nothing).

#include "lib/remote/gcs_credentials.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lib/base/base64.h"

namespace ockpt::remote {
namespace {

struct Key {
  EVP_PKEY* pkey = EVP_RSA_gen(2048);
  ~Key() { EVP_PKEY_free(pkey); }
  std::string Pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(bio);
    return pem;
  }
};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep)
      out.emplace_back();
    else
      out.back().push_back(c);
  }
  return out;
}

std::string Decode(const std::string& part) {
  auto d = Base64Decode(part);
  REQUIRE(d.ok());
  return *d;
}

std::string ServiceAccountFile(const std::string& pem, const char* token_uri = nullptr) {
  nlohmann::json j = {{"type", "service_account"},
                      {"project_id", "p"},
                      {"private_key_id", "kid-1"},
                      {"private_key", pem},
                      {"client_email", "sa@p.iam.gserviceaccount.com"},
                      {"client_id", "123"}};
  if (token_uri != nullptr) j["token_uri"] = token_uri;
  return j.dump();
}

// A scratch directory, removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ockpt-gcs-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = path + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
};

TEST_CASE("a service account's JWT carries the claims and an RS256 signature") {
  ::unsetenv("OCKPT_GCS_TOKEN_URI");
  Key key;
  REQUIRE(key.pkey != nullptr);
  auto creds = ParseGoogleCredentials(ServiceAccountFile(key.Pem(), "https://oauth2.example/token"),
                                      "sa.json");
  REQUIRE(creds.ok());
  CHECK(creds->token_uri == "https://oauth2.example/token");
  auto jwt = ServiceAccountJwt(*creds, 1700000000);
  REQUIRE(jwt.ok());
  auto parts = Split(*jwt, '.');
  REQUIRE(parts.size() == 3);
  for (const auto& p : parts) {
    CHECK(p.find_first_of("+/=") == std::string::npos);  // base64url, unpadded
  }
  auto header = nlohmann::json::parse(Decode(parts[0]));
  CHECK(header["alg"] == "RS256");
  CHECK(header["typ"] == "JWT");
  CHECK(header["kid"] == "kid-1");
  auto claims = nlohmann::json::parse(Decode(parts[1]));
  CHECK(claims["iss"] == "sa@p.iam.gserviceaccount.com");
  CHECK(claims["scope"] == "https://www.googleapis.com/auth/devstorage.read_write");
  CHECK(claims["aud"] == "https://oauth2.example/token");
  CHECK(claims["iat"] == 1700000000);
  CHECK(claims["exp"] == 1700000000 + 3600);

  // The signature verifies with the public key, and not over other bytes.
  std::string sig = Decode(parts[2]);
  CHECK(sig.size() == 256);
  auto verify = [&](const std::string& signed_text) {
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    REQUIRE(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.pkey) == 1);
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                            sig.size(), reinterpret_cast<const unsigned char*>(signed_text.data()),
                            signed_text.size()) == 1;
  };
  CHECK(verify(parts[0] + "." + parts[1]));
  CHECK_FALSE(verify(parts[0] + "." + parts[1] + "x"));
}

TEST_CASE("token requests: the jwt-bearer grant and the refresh_token grant") {
  ::unsetenv("OCKPT_GCS_TOKEN_URI");
  Key key;
  auto sa = ParseGoogleCredentials(ServiceAccountFile(key.Pem()), "sa.json");
  REQUIRE(sa.ok());
  CHECK(sa->token_uri == "https://oauth2.googleapis.com/token");  // Google's when the file has none
  auto body = TokenRequestBody(*sa, 1700000000);
  REQUIRE(body.ok());
  CHECK(body->rfind("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=",
                    0) == 0);
  CHECK(Split(body->substr(body->find("assertion=") + 10), '.').size() == 3);

  ::setenv("OCKPT_GCS_TOKEN_URI", "http://127.0.0.1:1/t", 1);
  auto user = ParseGoogleCredentials(
      R"({"type": "authorized_user", "client_id": "id.apps", "client_secret": "s+cret", "refresh_token": "1//r/t"})",
      "adc.json");
  ::unsetenv("OCKPT_GCS_TOKEN_URI");
  REQUIRE(user.ok());
  CHECK(user->token_uri == "http://127.0.0.1:1/t");  // the override
  auto ub = TokenRequestBody(*user, 0);
  REQUIRE(ub.ok());
  CHECK(*ub ==
        "grant_type=refresh_token&client_id=id.apps&client_secret=s%2Bcret&refresh_token=1%2F%2Fr%"
        "2Ft");
}

TEST_CASE("a bad credentials file is kInvalidArgument naming the file, quoting no secret") {
  auto bad = [](const std::string& text) {
    auto r = ParseGoogleCredentials(text, "/keys/k.json");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK(r.status().message().find("/keys/k.json") != std::string::npos);
    return r.status().message();
  };
  CHECK(bad(R"({"type": "service_account", "private_key": "SECRETKEYTEXT)").find("SECRETKEYTEXT") ==
        std::string::npos);
  CHECK(bad("[1, 2]").find("JSON object") != std::string::npos);
  CHECK(bad(R"({"type": "service_account", "client_email": "a@b"})").find("private_key") !=
        std::string::npos);
  CHECK(bad(R"({"type": "service_account", "client_email": "a@b", "private_key": "SECRETKEYTEXT"})")
            .find("SECRETKEYTEXT") == std::string::npos);
  CHECK(bad(R"({"type": "authorized_user", "client_id": "a", "client_secret": "b"})")
            .find("refresh_token") != std::string::npos);
  CHECK(bad(R"({"type": "external_account"})").find("external_account") != std::string::npos);
}

TEST_CASE("the lookup order: token, GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, nothing") {
  TempDir home;
  ::setenv("HOME", home.path.c_str(), 1);
  ::unsetenv("CLOUDSDK_CONFIG");
  ::unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
  ::unsetenv("OCKPT_GCS_TOKEN_URI");
  HttpConfig http;
  http.timeout_s = 2;
  http.retries = 0;

  ::setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.fixed", 1);
  ::setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/k.json", 1);
  HttpAuth a;
  REQUIRE(FindGcsCredentials(http, &a).ok());  // the token wins; the file is not read
  CHECK(a.bearer == "ya29.fixed");
  CHECK(a.token_source == nullptr);
  ::unsetenv("GOOGLE_OAUTH_ACCESS_TOKEN");

  HttpAuth b;
  Status missing = FindGcsCredentials(http, &b);  // named, so it must exist
  CHECK(missing.code() == StatusCode::kInvalidArgument);
  CHECK(missing.message().find("/nonexistent/k.json") != std::string::npos);
  ::unsetenv("GOOGLE_APPLICATION_CREDENTIALS");

  HttpAuth c;
  REQUIRE(FindGcsCredentials(http, &c).ok());  // nothing anywhere: unauthenticated
  CHECK(c.bearer.empty());
  CHECK(c.token_source == nullptr);

  // gcloud's ADC file under $CLOUDSDK_CONFIG: read, and its token endpoint
  // (nothing listens on port 9) fails as an I/O error naming the file.
  TempDir gcloud;
  std::string adc =
      gcloud.Write("application_default_credentials.json",
                   R"({"type": "authorized_user", "client_id": "a", "client_secret": "b",
                                     "refresh_token": "r", "token_uri": "http://127.0.0.1:9/token"})");
  ::setenv("CLOUDSDK_CONFIG", gcloud.path.c_str(), 1);
  HttpAuth d;
  Status down = FindGcsCredentials(http, &d);
  ::unsetenv("CLOUDSDK_CONFIG");
  CHECK(down.code() == StatusCode::kIoError);
  CHECK(down.message().find(adc) != std::string::npos);
  CHECK(down.message().find("127.0.0.1:9") != std::string::npos);
}

}  // namespace
}  // namespace ockpt::remote
