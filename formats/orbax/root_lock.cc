// The writer lock of a manager root: flock(2) on the root directory itself,
// so that no lock file is left in the root.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "formats/orbax/steps.h"
#include "lib/base/file.h"

namespace ockpt::orbax {

RootLock::RootLock(RootLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }

RootLock& RootLock::operator=(RootLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

RootLock::~RootLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Result<RootLock> LockRoot(const std::string& root, bool wait) {
  // Object stores have no locks: writers there rely on Orbax's rules (one
  // writer per root; a step commits by its marker). An unlocked RootLock.
  if (IsRemotePath(root)) return RootLock(-1, root);
  if (!IsDirectory(root)) return NotFoundError("{} does not exist or is not a directory", root);
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return StatusFromErrno(errno, "open directory to lock", root);
  while (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    int err = errno;
    if (err == EINTR) continue;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return UnavailableError(
          "{} is locked by another writer (a gc or save in progress); try again later", root);
    }
    return StatusFromErrno(err, "flock", root);
  }
  return RootLock(fd, root);
}

}  // namespace ockpt::orbax
