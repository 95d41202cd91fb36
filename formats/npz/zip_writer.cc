// Stored-member ZIP writer.

#include "formats/npz/zip_writer.h"

#include <fmt/format.h>
#include <zlib.h>

namespace ockpt::npz {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint16_t kDosTime = 0;                        // 00:00:00
constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01
constexpr uint16_t kFlagUtf8 = 1 << 11;
constexpr uint64_t kMax32 = 0xffffffff;
constexpr size_t kLocalCrcOffset = 14;

void PutU16LE(Bytes* b, uint16_t v) {
  b->push_back(static_cast<char>(v & 0xff));
  b->push_back(static_cast<char>(v >> 8));
}

bool NeedsUtf8Flag(const std::string& name) {
  for (unsigned char c : name) {
    if (c >= 0x80) return true;
  }
  return false;
}

uint32_t Crc(ByteView data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const char* p = data.data();
  size_t n = data.size();
  while (n > 0) {
    uInt step = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(p), step);
    p += step;
    n -= step;
  }
  return static_cast<uint32_t>(crc);
}

uint32_t CrcCombine(uint32_t a, uint32_t b, uint64_t b_length) {
  static_assert(sizeof(z_off_t) >= 8, "z_off_t must hold 64-bit lengths");
  return static_cast<uint32_t>(crc32_combine(a, b, static_cast<z_off_t>(b_length)));
}

}  // namespace

Status ZipMemberWriter::WriteAt(uint64_t offset, ByteView data) {
  if (closed_) return InternalError("{}: write after the member was closed", zip_->path());
  if (offset > size_ || data.size() > size_ - offset) {
    return InternalError("{}: write of {} bytes at {} outside a {}-byte member", zip_->path(),
                         data.size(), offset, size_);
  }
  if (data.empty()) return Status::Ok();
  auto next = runs_.lower_bound(offset);
  bool overlaps = next != runs_.end() && next->first < offset + data.size();
  if (next != runs_.begin()) {
    auto prev = std::prev(next);
    overlaps = overlaps || prev->first + prev->second.length > offset;
  }
  if (overlaps) return InternalError("{}: overlapping writes at {}", zip_->path(), offset);
  OCKPT_RETURN_IF_ERROR(zip_->file_.WriteAt(data_offset_ + offset, data));
  Run run{data.size(), Crc(data)};
  // Merge with the run ending where this one starts, and the one starting
  // where it ends, so that in-order pieces keep a single run.
  if (next != runs_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.length == offset) {
      prev->second.crc = CrcCombine(prev->second.crc, run.crc, run.length);
      prev->second.length += run.length;
      offset = prev->first;
      run = prev->second;
      runs_.erase(prev);
    }
  }
  if (next != runs_.end() && next->first == offset + run.length) {
    run.crc = CrcCombine(run.crc, next->second.crc, next->second.length);
    run.length += next->second.length;
    runs_.erase(next);
  }
  runs_[offset] = run;
  return Status::Ok();
}

Status ZipMemberWriter::Close() {
  if (closed_) return Status::Ok();
  uint32_t crc = crc32(0L, Z_NULL, 0);
  if (size_ > 0) {
    if (runs_.size() != 1 || runs_.begin()->first != 0 || runs_.begin()->second.length != size_) {
      return InternalError("{}: member '{}' was not written completely", zip_->path(),
                           zip_->entries_[index_].name);
    }
    crc = runs_.begin()->second.crc;
  }
  closed_ = true;
  return zip_->Patch(index_, crc);
}

Result<ZipWriter> ZipWriter::Create(const std::string& path) {
  OCKPT_ASSIGN_OR_RETURN(WritableFile f, WritableFile::Create(path));
  return ZipWriter(std::move(f));
}

Result<ZipMemberWriter> ZipWriter::BeginMember(const std::string& name, uint64_t size) {
  if (!entries_.empty() && !entries_.back().done) {
    return InternalError("{}: member '{}' is still open", path(), entries_.back().name);
  }
  if (name.empty() || name.size() > 0xffff)
    return InternalError("{}: bad member name length", path());
  bool zip64 = size >= kMax32;
  Bytes h;
  PutU32LE(&h, kLocalSig);
  PutU16LE(&h, zip64 ? 45 : 20);
  PutU16LE(&h, NeedsUtf8Flag(name) ? kFlagUtf8 : 0);
  PutU16LE(&h, 0);  // stored
  PutU16LE(&h, kDosTime);
  PutU16LE(&h, kDosDate);
  PutU32LE(&h, 0);  // CRC-32, patched by Patch()
  PutU32LE(&h, zip64 ? kMax32 : static_cast<uint32_t>(size));
  PutU32LE(&h, zip64 ? kMax32 : static_cast<uint32_t>(size));
  PutU16LE(&h, static_cast<uint16_t>(name.size()));
  PutU16LE(&h, zip64 ? 20 : 0);
  PutBytes(&h, name);
  if (zip64) {
    PutU16LE(&h, 0x0001);
    PutU16LE(&h, 16);
    PutU64LE(&h, size);
    PutU64LE(&h, size);
  }
  OCKPT_RETURN_IF_ERROR(file_.WriteAt(end_, h));
  entries_.push_back({name, end_, size});
  uint64_t data = end_ + h.size();
  end_ = data + size;
  return ZipMemberWriter(this, entries_.size() - 1, data, size);
}

Status ZipWriter::Patch(size_t index, uint32_t crc) {
  Entry& e = entries_[index];
  Bytes b;
  PutU32LE(&b, crc);
  OCKPT_RETURN_IF_ERROR(file_.WriteAt(e.header_offset + kLocalCrcOffset, b));
  e.crc = crc;
  e.done = true;
  return Status::Ok();
}

Status ZipWriter::AddMember(const std::string& name, ByteView data) {
  OCKPT_ASSIGN_OR_RETURN(ZipMemberWriter w, BeginMember(name, data.size()));
  OCKPT_RETURN_IF_ERROR(w.WriteAt(0, data));
  return w.Close();
}

Status ZipWriter::Finish() {
  if (!entries_.empty() && !entries_.back().done) {
    return InternalError("{}: member '{}' is still open", path(), entries_.back().name);
  }
  Bytes cd;
  for (const Entry& e : entries_) {
    bool big_size = e.size >= kMax32;
    bool big_offset = e.header_offset >= kMax32;
    Bytes extra;
    if (big_size || big_offset) {
      Bytes fields;
      if (big_size) {
        PutU64LE(&fields, e.size);
        PutU64LE(&fields, e.size);
      }
      if (big_offset) PutU64LE(&fields, e.header_offset);
      PutU16LE(&extra, 0x0001);
      PutU16LE(&extra, static_cast<uint16_t>(fields.size()));
      PutBytes(&extra, fields);
    }
    bool zip64 = !extra.empty();
    PutU32LE(&cd, kCentralSig);
    PutU16LE(&cd, (3 << 8) | 45);  // made by: Unix, spec 4.5
    PutU16LE(&cd, zip64 || e.size >= kMax32 ? 45 : 20);
    PutU16LE(&cd, NeedsUtf8Flag(e.name) ? kFlagUtf8 : 0);
    PutU16LE(&cd, 0);
    PutU16LE(&cd, kDosTime);
    PutU16LE(&cd, kDosDate);
    PutU32LE(&cd, e.crc);
    PutU32LE(&cd, big_size ? kMax32 : static_cast<uint32_t>(e.size));
    PutU32LE(&cd, big_size ? kMax32 : static_cast<uint32_t>(e.size));
    PutU16LE(&cd, static_cast<uint16_t>(e.name.size()));
    PutU16LE(&cd, static_cast<uint16_t>(extra.size()));
    PutU16LE(&cd, 0);               // comment
    PutU16LE(&cd, 0);               // disk
    PutU16LE(&cd, 0);               // internal attributes
    PutU32LE(&cd, 0100644u << 16);  // regular file, rw-r--r--
    PutU32LE(&cd, big_offset ? kMax32 : static_cast<uint32_t>(e.header_offset));
    PutBytes(&cd, e.name);
    PutBytes(&cd, extra);
  }
  uint64_t cd_offset = end_;
  uint64_t cd_size = cd.size();
  uint64_t count = entries_.size();
  bool zip64 = count >= 0xffff || cd_offset >= kMax32 || cd_size >= kMax32;
  Bytes tail;
  if (zip64) {
    uint64_t z64_offset = cd_offset + cd_size;
    PutU32LE(&tail, kZip64EndSig);
    PutU64LE(&tail, 44);  // size of the rest of this record
    PutU16LE(&tail, (3 << 8) | 45);
    PutU16LE(&tail, 45);
    PutU32LE(&tail, 0);
    PutU32LE(&tail, 0);
    PutU64LE(&tail, count);
    PutU64LE(&tail, count);
    PutU64LE(&tail, cd_size);
    PutU64LE(&tail, cd_offset);
    PutU32LE(&tail, kZip64LocatorSig);
    PutU32LE(&tail, 0);
    PutU64LE(&tail, z64_offset);
    PutU32LE(&tail, 1);
  }
  PutU32LE(&tail, kEndSig);
  PutU16LE(&tail, 0);
  PutU16LE(&tail, 0);
  PutU16LE(&tail, zip64 ? 0xffff : static_cast<uint16_t>(count));
  PutU16LE(&tail, zip64 ? 0xffff : static_cast<uint16_t>(count));
  PutU32LE(&tail, zip64 ? kMax32 : static_cast<uint32_t>(cd_size));
  PutU32LE(&tail, zip64 ? kMax32 : static_cast<uint32_t>(cd_offset));
  PutU16LE(&tail, 0);  // comment length
  OCKPT_RETURN_IF_ERROR(file_.WriteAt(cd_offset, cd + tail));
  OCKPT_RETURN_IF_ERROR(file_.Truncate(cd_offset + cd.size() + tail.size()));
  return file_.Close();
}

}  // namespace ockpt::npz
