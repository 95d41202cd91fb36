// SHA-256 through OpenSSL's EVP interface.

#include "lib/base/sha256.h"

#include <openssl/evp.h>

#include "lib/base/file.h"

namespace ockpt {

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : state_(new State) {
  state_->ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(state_->ctx); }

void Sha256::Update(ByteView data) { EVP_DigestUpdate(state_->ctx, data.data(), data.size()); }

std::string Sha256::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx, md, &len);
  return HexString(ByteView(reinterpret_cast<const char*>(md), len));
}

std::string Sha256Hex(ByteView data) {
  Sha256 h;
  h.Update(data);
  return h.HexDigest();
}

Result<std::string> Sha256File(const std::string& path) {
  OCKPT_ASSIGN_OR_RETURN(RandomAccessFile f, RandomAccessFile::Open(path));
  Sha256 h;
  constexpr uint64_t kPiece = uint64_t{1} << 20;
  for (uint64_t off = 0; off < f.size(); off += kPiece) {
    OCKPT_ASSIGN_OR_RETURN(Bytes b, f.Read(off, std::min(kPiece, f.size() - off)));
    h.Update(b);
  }
  return h.HexDigest();
}

}  // namespace ockpt
