// BackgroundSync: queued flushes run beside the writer, survive the file's
// close, and a failed one is returned by Wait.

#include "lib/base/background_sync.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "lib/base/file.h"
#include "tests/support/temp_dir.h"

namespace ockpt {
namespace {

using testing::TempDir;

TEST_CASE("BackgroundSync flushes files while they are written and after they close") {
  TempDir tmp;
  BackgroundSync sync;
  CHECK(sync.Wait().ok());  // nothing queued: no thread, nothing to wait for
  std::vector<WritableFile> files;
  const Bytes piece(1 << 20, 'x');
  for (int i = 0; i < 3; ++i) {
    auto f = WritableFile::Create(tmp / ("f" + std::to_string(i)));
    REQUIRE(f.ok());
    files.push_back(std::move(*f));
  }
  for (int round = 0; round < 8; ++round) {
    for (WritableFile& f : files) {
      REQUIRE(f.Append(piece).ok());
      sync.Queue(f);
      sync.Queue(f);  // covered by the one waiting
    }
  }
  // The flushes hold descriptors of their own: closing the files does not
  // wait for them or make them fail.
  for (WritableFile& f : files) REQUIRE(f.Close().ok());
  CHECK(sync.Wait().ok());
  for (int i = 0; i < 3; ++i) {
    auto size = FileSize(tmp / ("f" + std::to_string(i)));
    REQUIRE(size.ok());
    CHECK(*size == 8 * piece.size());
  }
}

TEST_CASE("BackgroundSync returns a failed flush, naming the file") {
  // /dev/null cannot be flushed (fdatasync: EINVAL).
  auto f = WritableFile::Create("/dev/null");
  REQUIRE(f.ok());
  BackgroundSync sync;
  sync.Queue(*f);
  Status st = sync.Wait();
  CHECK_FALSE(st.ok());
  CHECK(st.ToString().find("/dev/null") != std::string::npos);
  CHECK_FALSE(sync.Wait().ok());  // kept
}

TEST_CASE("BackgroundSync's destructor waits for the flushes queued") {
  TempDir tmp;
  auto f = WritableFile::Create(tmp / "f");
  REQUIRE(f.ok());
  REQUIRE(f->Append(Bytes(4 << 20, 'y')).ok());
  {
    BackgroundSync sync;
    sync.Queue(*f);
  }  // joins its thread
  CHECK(f->Close().ok());
}

}  // namespace
}  // namespace ockpt
