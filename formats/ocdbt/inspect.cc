// ockpt ocdbt ls / cat / versions.

#include "formats/ocdbt/inspect.h"
#include "lib/base/json.h"

#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "formats/ocdbt/key_text.h"
#include "formats/ocdbt/ocdbt_kvstore.h"

namespace ockpt::ocdbt {

namespace {

using Json = nlohmann::ordered_json;

Result<std::string> Sha256Hex(ByteView data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    return InternalError("EVP_Digest(sha256) failed");
  }
  return HexString(ByteView(reinterpret_cast<const char*>(digest), len));
}

Result<std::unique_ptr<OcdbtKvStore>> OpenStore(const std::string& dir, uint64_t generation) {
  return OcdbtKvStore::Open(dir, generation);
}

}  // namespace

std::string FormatCommitTime(uint64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm {};
  if (gmtime_r(&secs, &tm) == nullptr) return fmt::format("{}ns", ns);
  std::string out = fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  // Fraction without trailing zeros (RFC 3339 "nano" style), none if zero.
  if (uint64_t frac = ns % 1000000000; frac != 0) {
    std::string digits = fmt::format("{:09d}", frac);
    digits.erase(digits.find_last_not_of('0') + 1);
    out += "." + digits;
  }
  return out + "Z";
}

Status OcdbtList(const OcdbtListOptions& options, std::ostream& out) {
  OCKPT_ASSIGN_OR_RETURN(auto store, OpenStore(options.dir, options.generation));
  OCKPT_ASSIGN_OR_RETURN(std::vector<EntryInfo> entries, store->ListEntries(options.prefix));
  std::vector<std::string> sums;
  if (options.sha256) {
    sums.reserve(entries.size());
    for (const EntryInfo& e : entries) {
      OCKPT_ASSIGN_OR_RETURN(Bytes value, store->ReadEntry(e));
      OCKPT_ASSIGN_OR_RETURN(std::string sum, Sha256Hex(value));
      sums.push_back(std::move(sum));
    }
  }
  if (options.json) {
    Json keys = Json::array();
    for (size_t i = 0; i < entries.size(); ++i) {
      const EntryInfo& e = entries[i];
      Json j = Json::object();
      if (IsValidUtf8(e.key)) {
        j["key"] = e.key;
      } else {
        j["key_base64"] = Base64Encode(e.key);
      }
      j["size"] = e.size;
      j["storage"] = e.is_inline ? "inline" : "indirect";
      if (e.is_inline) {
        j["file"] = nullptr;
        j["offset"] = nullptr;
      } else {
        // Data file paths come from the tables; show them as text only when
        // they are UTF-8 (they always are in files TensorStore writes).
        j["file"] = IsValidUtf8(e.file) ? e.file : EscapeKey(e.file);
        j["offset"] = e.offset;
      }
      if (options.sha256) j["sha256"] = sums[i];
      keys.push_back(std::move(j));
    }
    Json doc = Json::object();
    doc["keys"] = std::move(keys);
    out << DumpJson(doc, 2) << "\n";
    return Status::Ok();
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const EntryInfo& e = entries[i];
    out << e.size << '\t' << (e.is_inline ? "inline" : "indirect");
    if (options.sha256) out << '\t' << sums[i];
    if (options.long_format) {
      if (e.is_inline) {
        out << "\t-";
      } else {
        out << '\t' << EscapeKey(e.file) << '@' << e.offset;
      }
    }
    out << '\t' << EscapeKey(e.key) << '\n';
  }
  return Status::Ok();
}

Status OcdbtCat(const OcdbtCatOptions& options, std::ostream& out) {
  std::string key = options.key;
  if (options.key_is_base64) {
    OCKPT_ASSIGN_OR_RETURN(key, Base64Decode(options.key).WithContext("KEY"));
  }
  OCKPT_ASSIGN_OR_RETURN(auto store, OpenStore(options.dir, options.generation));
  OCKPT_ASSIGN_OR_RETURN(Bytes value, store->Read(key));
  out.write(value.data(), static_cast<std::streamsize>(value.size()));
  return Status::Ok();
}

Status OcdbtVersions(const OcdbtVersionsOptions& options, std::ostream& out) {
  OCKPT_ASSIGN_OR_RETURN(auto store, OpenStore(options.dir, 0));
  OCKPT_ASSIGN_OR_RETURN(std::vector<VersionInfo> versions, store->ListVersions());
  if (options.json) {
    Json list = Json::array();
    for (const VersionInfo& v : versions) {
      Json j = Json::object();
      j["generation"] = v.generation;
      j["commit_time_ns"] = v.commit_time_ns;
      j["num_keys"] = v.num_keys;
      j["num_tree_bytes"] = v.num_tree_bytes;
      j["num_indirect_value_bytes"] = v.num_indirect_value_bytes;
      list.push_back(std::move(j));
    }
    Json doc = Json::object();
    doc["versions"] = std::move(list);
    out << DumpJson(doc, 2) << "\n";
    return Status::Ok();
  }
  for (const VersionInfo& v : versions) {
    out << v.generation << '\t' << FormatCommitTime(v.commit_time_ns) << '\t' << v.num_keys
        << '\n';
  }
  return Status::Ok();
}

}  // namespace ockpt::ocdbt
