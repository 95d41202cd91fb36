// lib/remote without a server: URL recognition and resolution (addressing
// style, endpoints, keys), AWS URI encoding, file.h's URL path helpers, and
// a server that is gone failing fast with kIoError naming the URL.

#include <catch2/catch.hpp>
#include <cstdlib>

#include "lib/base/file.h"
#include "lib/remote/http_client.h"
#include "lib/remote/object_store.h"
#include "lib/remote/remote_fs.h"

namespace ockpt::remote {
namespace {

TEST_CASE("IsUrl knows the remote schemes") {
  CHECK(IsUrl("s3://b/k"));
  CHECK(IsUrl("gs://b"));
  CHECK(IsUrl("http://h:1/x"));
  CHECK(IsUrl("https://h/x"));
  CHECK_FALSE(IsUrl("/tmp/s3://x"));
  CHECK_FALSE(IsUrl("ckpt"));
  CHECK(IsRemotePath("s3://b/k"));
  CHECK_FALSE(HasAtomicRename("s3://b/k"));
  CHECK(HasAtomicRename("/tmp/x"));
}

TEST_CASE("UriEncode follows AWS's rules") {
  CHECK(UriEncode("a b/c~d.e_f-g", true) == "a%20b/c~d.e_f-g");
  CHECK(UriEncode("a/b", false) == "a%2Fb");
  CHECK(UriEncode("\xc3\xa9", false) == "%C3%A9");
}

TEST_CASE("StoreForUrl normalises keys and names objects") {
  ::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1);
  auto r = StoreForUrl("s3://bkt//a/./b/");
  REQUIRE(r.ok());
  CHECK(r->key == "a/b");
  CHECK(r->store->Url(r->key) == "s3://bkt/a/b");
  CHECK_FALSE(StoreForUrl("s3://bkt/a/../b").ok());
  // Port 7, not 9: stores are cached per site, and the "server gone" case
  // below needs its own with its short timeout.
  auto h = StoreForUrl("http://127.0.0.1:7/x/y");
  REQUIRE(h.ok());
  CHECK(h->key == "x/y");
  CHECK_FALSE(h->store->can_list());
  CHECK(h->store->Url("x/y") == "http://127.0.0.1:7/x/y");
}

TEST_CASE("Dirname and JoinPath keep a URL's bucket") {
  CHECK(JoinPath("s3://b/ck", "_METADATA") == "s3://b/ck/_METADATA");
  CHECK(Dirname("s3://b/ck/1") == "s3://b/ck");
  CHECK(Dirname("s3://b/ck") == "s3://b");
  CHECK(Dirname("s3://b") == "s3://b");
  CHECK(Basename("s3://b/ck/") == "ck");
}

TEST_CASE("a server that is gone fails with kIoError naming the URL, then fast") {
  ::setenv("OCKPT_REMOTE_TIMEOUT", "1", 1);
  ::setenv("OCKPT_REMOTE_RETRIES", "2", 1);
  // Port 9 on the loopback address: nothing listens there.
  auto st = CheckExists("http://127.0.0.1:9/ckpt/_METADATA");
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == StatusCode::kIoError);
  CHECK(st.message().find("127.0.0.1:9") != std::string::npos);
  auto again = ReadFile("http://127.0.0.1:9/ckpt/other", 100);
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().code() == StatusCode::kIoError);
  CHECK_FALSE(WriteFile("http://127.0.0.1:9/x", "y").ok());  // http(s) is read-only
}

}  // namespace
}  // namespace ockpt::remote
