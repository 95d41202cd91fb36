// SHA-256 (OpenSSL), incremental.

#ifndef OCKPT_LIB_BASE_SHA256_H_
#define OCKPT_LIB_BASE_SHA256_H_

#include <memory>
#include <string>

#include "lib/base/bytes.h"

namespace ockpt {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(ByteView data);
  // Lowercase hex digest; the object must not be updated afterwards.
  std::string HexDigest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string Sha256Hex(ByteView data);
// Hashes a whole file in 1 MiB pieces.
Result<std::string> Sha256File(const std::string& path);

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_SHA256_H_
