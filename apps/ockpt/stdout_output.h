// `-` as OUT / DST: single-file outputs (.npz, .safetensors, .h5) written to
// stdout. The writers need a seekable file (ZIP central directory, HDF5), so
// the file is written to a private temporary directory first and then copied
// to stdout; outputs that are directories (.npy, checkpoints) are refused
// (exit 2), as is binary data to a terminal.

#ifndef OCKPT_APPS_OCKPT_STDOUT_OUTPUT_H_
#define OCKPT_APPS_OCKPT_STDOUT_OUTPUT_H_

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "apps/ockpt/app_context.h"
#include "formats/npz/npz.h"
#include "lib/base/file.h"

namespace ockpt {

// Copies the file at `path` to stdout (fd 1).
inline Status CopyFileToStdout(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("{}: {}", path, std::strerror(errno));
  std::string buf(1 << 20, '\0');
  Status s;
  while (s.ok()) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = IoError("{}: {}", path, std::strerror(errno));
      break;
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(STDOUT_FILENO, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        s = IoError("stdout: {}", std::strerror(errno));
        break;
      }
      done += w;
    }
  }
  ::close(fd);
  return s;
}

// Runs `write(path)` for the single-file output `format` ("npz", "h5",
// "safetensors") with path a fresh temporary file, then copies it to stdout.
inline Status WriteToStdout(const AppContext& ctx, const std::string& format,
                            const std::function<Status(const std::string& path)>& write) {
  if (format != "npz" && format != "h5" && format != "safetensors") {
    return InvalidArgumentError(
        "-: only single-file outputs (--format npz, h5 or safetensors) can go to stdout, not {}", format);
  }
  if (::isatty(STDOUT_FILENO) == 1) {
    return InvalidArgumentError("-: refusing to write binary {} data to a terminal; redirect stdout", format);
  }
  std::error_code ec;
  std::string tmpdir = std::filesystem::temp_directory_path(ec).string();
  if (ec || tmpdir.empty()) tmpdir = "/tmp";
  std::string templ = JoinPath(tmpdir, "ockpt-stdout-XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr) return IoError("{}: {}", templ, std::strerror(errno));
  ctx.RemoveOnInterrupt(templ);
  std::string path = JoinPath(templ, "out." + format);
  Status s = write(path);
  if (s.ok()) s = CopyFileToStdout(path);
  RemoveAll(templ).IgnoreError();
  return s;
}

// After writing an .npz: says on stderr (unless --quiet) when `_tree.json`
// went into it and why; a plain .npz says nothing.
inline void NoteNpzTree(const AppContext& ctx, const std::string& path) {
  if (ctx.quiet) return;
  auto src = npz::OpenNpzFile(path);
  if (!src.ok()) return;
  std::string why = npz::TreeJsonReason((*src)->leaves(), (*src)->custom_metadata());
  if (!why.empty()) {
    *ctx.err << "ockpt: " << path << ": _tree.json written into the .npz, or these would be lost: " << why
             << "\n";
  }
}

}  // namespace ockpt

#endif  // OCKPT_APPS_OCKPT_STDOUT_OUTPUT_H_
