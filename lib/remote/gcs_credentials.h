// Cloud Storage credentials as Google's client libraries find them: the
// lookup order (GOOGLE_OAUTH_ACCESS_TOKEN, the file GOOGLE_APPLICATION_
// CREDENTIALS names, gcloud's application default credentials), the two
// credentials-file types (service_account: an RS256-signed JWT exchanged for
// an access token; authorized_user: a refresh token), and the token source
// that renews the access token before it expires (docs/remote.md).
// Messages name the file; they never quote a key, a secret or a token.

#ifndef OCKPT_LIB_REMOTE_GCS_CREDENTIALS_H_
#define OCKPT_LIB_REMOTE_GCS_CREDENTIALS_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "lib/base/bytes.h"
#include "lib/base/result.h"
#include "lib/remote/http_client.h"

namespace ockpt::remote {

inline constexpr std::string_view kGcsScope =
    "https://www.googleapis.com/auth/devstorage.read_write";
inline constexpr std::string_view kGoogleTokenUri = "https://oauth2.googleapis.com/token";

// A credentials file, parsed.
struct GoogleCredentials {
  std::string path;       // the file, for messages
  std::string type;       // "service_account" or "authorized_user"
  std::string token_uri;  // where the token request goes
  // service_account
  std::string client_email;
  std::string private_key;     // PEM
  std::string private_key_id;  // the JWT's "kid" when present
  // authorized_user (gcloud auth application-default login)
  std::string client_id;
  std::string client_secret;
  std::string refresh_token;
};

// Parses a credentials file's text. token_uri is the file's, else Google's;
// OCKPT_GCS_TOKEN_URI overrides both (tests). kInvalidArgument naming `path`
// for text that is not JSON, an unsupported type, a missing member or a
// private key that is not an RSA PEM key.
Result<GoogleCredentials> ParseGoogleCredentials(ByteView text, const std::string& path);
Result<GoogleCredentials> ReadGoogleCredentials(const std::string& path);

// A service account's JWT at unix time `now`: base64url (unpadded) of
// {"alg":"RS256","typ":"JWT"[,"kid"]} and of {"iss": client_email, "scope",
// "aud": token_uri, "iat": now, "exp": now + 3600}, and of the RS256
// signature of the two joined by '.'.
Result<std::string> ServiceAccountJwt(const GoogleCredentials& creds, int64_t now,
                                      std::string_view scope = kGcsScope);

// The token request's form body (application/x-www-form-urlencoded): the
// jwt-bearer grant with the JWT, or the refresh_token grant.
Result<std::string> TokenRequestBody(const GoogleCredentials& creds, int64_t now);

struct AccessToken {
  std::string token;
  int64_t expires_in = 0;  // seconds, as the token endpoint said
};

// One token exchange with creds.token_uri (retried as every request is).
// kIoError naming the file and the endpoint when it fails or answers
// without an access_token.
Result<AccessToken> FetchAccessToken(const GoogleCredentials& creds, const HttpClient& client);

// The access token for a credentials file: fetched on first use, fetched
// anew once less than a quarter of its lifetime (at most 5 minutes) is left
// or after the server refused it (Invalidate). One fetch at a time.
class GoogleTokenSource final : public TokenSource {
 public:
  GoogleTokenSource(GoogleCredentials creds, const HttpConfig& http);
  Result<std::string> Token() const override;
  void Invalidate(const std::string& stale) const override;

 private:
  GoogleCredentials creds_;
  HttpClient client_;
  mutable std::mutex mu_;
  mutable std::string token_;
  mutable int64_t renew_at_ = 0;  // unix seconds
};

// Sets the authorization of gs:// requests as Google's tools find it:
// GOOGLE_OAUTH_ACCESS_TOKEN (a fixed token); else the file named by
// GOOGLE_APPLICATION_CREDENTIALS (it must exist); else gcloud's
// $CLOUDSDK_CONFIG/application_default_credentials.json or
// ~/.config/gcloud/application_default_credentials.json when present; else
// nothing (unauthenticated: public buckets). A file's first token is fetched
// here, so a bad file or a failing token endpoint fails the first command.
Status FindGcsCredentials(const HttpConfig& http, HttpAuth* auth);

}  // namespace ockpt::remote

#endif  // OCKPT_LIB_REMOTE_GCS_CREDENTIALS_H_
