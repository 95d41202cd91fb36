// Checkpoint verification and checksums.

#include "formats/orbax/verify.h"
#include "lib/base/json.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "formats/orbax/json_files.h"
#include "formats/orbax/layout.h"
#include "formats/ocdbt/ocdbt_kvstore.h"
#include "formats/orbax/tree_metadata.h"
#include "formats/zarr/zarr_array.h"
#include "lib/base/file.h"
#include "lib/base/sha256.h"
#include "lib/checkpoint/progress.h"
#include "lib/base/utf8.h"
#include "lib/kvstore/kvstore.h"

namespace ockpt::orbax {
namespace {

constexpr uint64_t kBlock = uint64_t{4} << 20;

// The byte range of one out-of-line value and who refers to it.
struct ValueRange {
  uint64_t offset = 0, size = 0;
  std::string db;  // the database directory
  uint64_t generation = 0;
  std::string key;
};
// By data file path. A root database and its process databases refer to
// the same values: each range is read once.
using RangesByFile = std::map<std::string, std::vector<ValueRange>>;

// Every generation of one OCDBT database: all version-tree and B+tree
// nodes; the byte range of every indirect value goes to `ranges`.
void CheckDatabase(const std::string& dir, VerifyReport* r, RangesByFile* ranges) {
  auto store = ocdbt::OcdbtKvStore::Open(dir);
  if (!store.ok()) {
    r->problems.push_back(fmt::format("OCDBT database {}: {}", dir, store.status().message()));
    return;
  }
  auto versions = (*store)->ListVersions();
  if (!versions.ok()) {
    r->problems.push_back(
        fmt::format("OCDBT database {}: version tree: {}", dir, versions.status().message()));
    return;
  }
  for (const ocdbt::VersionInfo& v : *versions) {
    auto gen = ocdbt::OcdbtKvStore::Open(dir, v.generation);
    if (!gen.ok()) {
      r->problems.push_back(fmt::format("OCDBT database {} generation {}: {}", dir, v.generation,
                                        gen.status().message()));
      continue;
    }
    auto entries = (*gen)->ListEntries("");
    if (!entries.ok()) {
      r->problems.push_back(fmt::format("OCDBT database {} generation {}: {}", dir, v.generation,
                                        entries.status().message()));
      continue;
    }
    if (entries->size() != v.num_keys) {
      r->notes.push_back(fmt::format("OCDBT database {} generation {}: {} keys, statistics say {}",
                                     dir, v.generation, entries->size(), v.num_keys));
    }
    for (ocdbt::EntryInfo& e : *entries) {
      if (e.is_inline) continue;
      if (!IsSafeRelativeKey(e.file) || e.size > ~uint64_t{0} - e.offset) {
        // Reported with the reader's own words.
        Status st = (*gen)->ReadEntry(e).status();
        if (st.ok()) st = DataLossError("{} bytes at offset {} overflow", e.size, e.offset);
        r->problems.push_back(fmt::format("OCDBT database {} generation {}: key {}: {}", dir,
                                          v.generation, EscapeBytes(e.key), st.message()));
        continue;
      }
      (*ranges)[JoinPath(dir, e.file)].push_back(
          {e.offset, e.size, dir, v.generation, std::move(e.key)});
    }
  }
}

// Reads every byte of each data file that some value refers to, once:
// ranges that overlap or lie within kGap of each other are read as one
// extent, in kBlock pieces (values may be chunks of several GiB). An extent
// that cannot be read is checked value by value through its database, so
// that every problem names its key.
void CheckValueRanges(RangesByFile* ranges, VerifyReport* r) {
  constexpr uint64_t kGap = uint64_t{64} << 10;
  Bytes buf;
  for (auto& [path, list] : *ranges) {
    std::sort(list.begin(), list.end(), [](const ValueRange& a, const ValueRange& b) {
      return a.offset != b.offset ? a.offset < b.offset : a.size < b.size;
    });
    Result<RandomAccessFile> file = RandomAccessFile::Open(path);
    size_t i = 0;
    while (i < list.size()) {
      const uint64_t begin = list[i].offset;
      uint64_t end = begin + list[i].size;
      size_t j = i + 1;
      while (j < list.size() && list[j].offset <= end + kGap) {
        end = std::max(end, list[j].offset + list[j].size);
        ++j;
      }
      bool ok = file.ok() && end <= file->size();
      for (uint64_t off = begin; ok && off < end; off += kBlock) {
        const size_t n = static_cast<size_t>(std::min(kBlock, end - off));
        buf.resize(n);
        ok = file->ReadInto(off, n, buf.data()).ok();
      }
      if (!ok) {
        // The values of the extent one by one, through their database.
        std::map<std::pair<std::string, uint64_t>, std::unique_ptr<ocdbt::OcdbtKvStore>> stores;
        for (size_t k = i; k < j; ++k) {
          const ValueRange& v = list[k];
          auto& store = stores[{v.db, v.generation}];
          auto read_all = [&]() -> Status {
            if (!store) {
              OCKPT_ASSIGN_OR_RETURN(store, ocdbt::OcdbtKvStore::Open(v.db, v.generation));
            }
            OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ValueReader> value, store->OpenValue(v.key));
            for (uint64_t off = 0; off < value->size(); off += kBlock) {
              const size_t n = static_cast<size_t>(std::min(kBlock, value->size() - off));
              buf.resize(n);
              OCKPT_RETURN_IF_ERROR(value->ReadAt(off, n, buf.data()));
            }
            return Status::Ok();
          };
          Status st = read_all();
          if (!st.ok()) {
            r->problems.push_back(fmt::format("OCDBT database {} generation {}: key {}: {}", v.db,
                                              v.generation, EscapeBytes(v.key), st.message()));
          }
        }
      }
      i = j;
    }
  }
}

// Decodes every chunk of leaf i (through the item's streaming read) and,
// when `sha` is given, hashes its C-order bytes.
Status CheckLeaf(const PyTreeItem& item, size_t i, const Context& ctx, std::string* sha) {
  int threads = ctx.threads;
  const LeafRecord& leaf = item.leaves()[i];
  OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ArraySource> src, item.OpenLeafSource(i, threads));
  Sha256 h;
  Bytes buf;
  for (uint64_t off = 0; off < src->size(); off += kBlock) {
    size_t n = static_cast<size_t>(std::min(kBlock, src->size() - off));
    buf.resize(n);
    OCKPT_RETURN_IF_ERROR(src->ReadAt(off, n, buf.data()));
    h.Update(buf);
    ctx.AddProgressDone(n);
  }
  if (sha) *sha = h.HexDigest();
  (void)leaf;
  return Status::Ok();
}

// Whether the zstd frame at `offset` of `value` carries a content checksum
// (Frame_Header_Descriptor bit 2, RFC 8878 3.1.1.1.1). A set Unused_bit
// (bit 4), which no encoder writes and decoders ignore, is reported as
// damage: it is the one header bit a flip of which still decodes.
Result<bool> ZstdFrameHasChecksum(const ValueReader& value, uint64_t offset, std::string* damage) {
  if (value.size() < offset + 5) return false;
  char h[5];
  OCKPT_RETURN_IF_ERROR(value.ReadAt(offset, 5, h));
  const unsigned char* u = reinterpret_cast<const unsigned char*>(h);
  if (u[0] != 0x28 || u[1] != 0xB5 || u[2] != 0x2F || u[3] != 0xFD) return false;
  if ((u[4] & 0x10) != 0) *damage = "zstd frame header has its unused bit set";
  return (u[4] & 0x04) != 0;
}

// How a leaf's chunks carry checksums: all of them by a codec (crc32c), or
// per zstd frame (looked at chunk by chunk), or not at all.
struct ChecksumPlan {
  bool codec = false;      // a crc32c codec over each (inner) chunk
  bool zstd = false;       // zstd frames: read each frame header
  uint64_t inner = 1;      // v3: inner chunks per shard (index entries)
  bool index_at_end = true;
};

// j[key] when j is an object that has it, else a null.
const Json& Field(const Json& j, const char* key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

bool NameIs(const Json& codec, const char* name) {
  const Json& n = Field(codec, "name");
  return n.is_string() && n.get_ref<const std::string&>() == name;
}

ChecksumPlan PlanChecksums(const KvStore& store, const std::string& prefix,
                           const zarr::ZarrArray& array) {
  ChecksumPlan p;
  const zarr::ArraySummary& s = array.summary();
  if (s.zarr_format == 2) {
    p.inner = 0;
    p.zstd = s.compressor.rfind("zstd", 0) == 0;
    return p;
  }
  auto text = store.Read(prefix + "zarr.json");
  if (!text.ok()) return p;
  auto doc = ParseJson(*text);
  if (!doc.ok()) return p;
  const Json& codecs = Field(*doc, "codecs");
  if (!codecs.is_array()) return p;
  auto scan = [&](const Json& chain) {
    for (const Json& c : chain) {
      if (NameIs(c, "crc32c")) p.codec = true;
      if (NameIs(c, "zstd")) p.zstd = true;
    }
  };
  if (codecs.size() == 1 && NameIs(codecs[0], "sharding_indexed")) {
    const Json& conf = Field(codecs[0], "configuration");
    const Json& inner_codecs = Field(conf, "codecs");
    const Json& inner_shape = Field(conf, "chunk_shape");
    if (!inner_codecs.is_array() || !inner_shape.is_array()) return p;
    if (inner_shape.size() != s.chunk_shape.size()) return p;
    for (size_t d = 0; d < inner_shape.size(); ++d) {
      if (!inner_shape[d].is_number_integer() || inner_shape[d].get<int64_t>() <= 0) return p;
      int64_t k = inner_shape[d].get<int64_t>();
      p.inner *= static_cast<uint64_t>((s.chunk_shape[d] + k - 1) / k);
      if (p.inner > (uint64_t{1} << 20)) return ChecksumPlan();
    }
    for (const Json& c : inner_codecs) {
      if (NameIs(c, "sharding_indexed")) return ChecksumPlan();  // nested shards: not looked at
    }
    const Json& where = Field(conf, "index_location");
    p.index_at_end = !(where.is_string() && where.get_ref<const std::string&>() == "start");
    scan(inner_codecs);
  } else {
    p.inner = 0;  // no shard index: the chunk is one value
    scan(codecs);
  }
  return p;
}

// Whether every (inner) chunk stored under `key` carries a checksum.
Result<bool> ChunkHasChecksum(const KvStore& store, const std::string& key, const ChecksumPlan& p,
                              std::string* damage) {
  if (p.codec) return true;
  if (!p.zstd) return false;
  OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ValueReader> value, store.OpenValue(key));
  if (p.inner == 0) return ZstdFrameHasChecksum(*value, 0, damage);
  const uint64_t index_bytes = 16 * p.inner + 4;
  if (value->size() < index_bytes) return false;
  Bytes index = ZeroedBytes(static_cast<size_t>(index_bytes));
  OCKPT_RETURN_IF_ERROR(
      value->ReadAt(p.index_at_end ? value->size() - index_bytes : 0, index.size(), index.data()));
  bool any = false;
  for (uint64_t k = 0; k < p.inner; ++k) {
    uint64_t offset = 0, nbytes = 0;
    for (int b = 7; b >= 0; --b) {
      offset = (offset << 8) | static_cast<unsigned char>(index[16 * k + b]);
      nbytes = (nbytes << 8) | static_cast<unsigned char>(index[16 * k + 8 + b]);
    }
    if (offset == ~uint64_t{0} && nbytes == ~uint64_t{0}) continue;  // empty inner chunk
    OCKPT_ASSIGN_OR_RETURN(bool has, ZstdFrameHasChecksum(*value, offset, damage));
    if (!has) return false;
    any = true;
  }
  return any;
}

// Keys under each array's prefix that are neither its metadata nor a chunk
// of its grid. `checksummed` gets, by leaf name, the chunks whose stored
// bytes carry a checksum that decoding checked.
void CheckChunkKeys(const PyTreeItem& item, const std::string& label, VerifyReport* r,
                    std::map<std::string, uint64_t>* checksummed) {
  std::unique_ptr<KvStore> store;
  if (item.ocdbt()) {
    auto s = ocdbt::OcdbtKvStore::Open(item.dir());
    if (!s.ok()) return;  // reported by CheckDatabase
    store = std::move(s).value();
  } else {
    store = std::make_unique<FileKvStore>(item.dir());
  }
  for (const LeafRecord& leaf : item.leaves()) {
    if (!leaf.HasArrayData() || !leaf.chunk_shape) continue;
    std::string name = leaf.name();
    std::string prefix = name.empty() ? "" : name + "/";
    auto array = zarr::ZarrArray::Open(store.get(), prefix);
    if (!array.ok()) continue;  // inline legacy leaves and the like
    std::set<std::string> expected;
    Shape grid = array->ChunkGridShape();
    int64_t n = NumElements(grid);
    if (n > (int64_t{1} << 24)) {
      r->notes.push_back(fmt::format("leaf '{}': {} chunks; key check skipped", name, n));
      continue;
    }
    Shape idx(grid.size(), 0);
    for (int64_t k = 0; k < n; ++k) {
      expected.insert(array->ChunkKey(idx));
      for (size_t d = grid.size(); d-- > 0;) {
        if (++idx[d] < grid[d]) break;
        idx[d] = 0;
      }
    }
    ChecksumPlan plan = PlanChecksums(*store, prefix, *array);
    if (plan.codec || plan.zstd) {
      uint64_t count = 0;
      for (const std::string& key : expected) {
        std::string damage;
        auto has = ChunkHasChecksum(*store, key, plan, &damage);
        if (!damage.empty()) {
          r->problems.push_back(
              fmt::format("leaf '{}{}': chunk {}: {}", label, name, EscapeBytes(key), damage));
        }
        if (has.ok() && *has) ++count;
      }
      (*checksummed)[label + name] = count;
    }
    auto keys = store->List(prefix);
    if (!keys.ok()) {
      r->problems.push_back(
          fmt::format("leaf '{}': cannot list keys: {}", name, keys.status().message()));
      continue;
    }
    for (const KeyInfo& k : *keys) {
      std::string_view rest = std::string_view(k.key).substr(prefix.size());
      if (rest == ".zarray" || rest == "zarr.json" || rest == ".zattrs") continue;
      if (prefix.empty() && rest.find('/') != std::string_view::npos && !expected.count(k.key))
        continue;
      if (!expected.count(k.key)) {
        r->problems.push_back(fmt::format("leaf '{}': key {} is not a chunk of the {} chunk grid",
                                          name, EscapeBytes(k.key), ShapeString(grid)));
      }
    }
  }
}

std::vector<std::string> AllFiles(const std::string& dir) {
  std::vector<std::string> out;
  if (IsRemotePath(dir)) {
    auto files = ListFilesRecursive(dir);
    if (files.ok()) {
      for (DirEntryInfo& f : *files) out.push_back(std::move(f.name));
    }
    return out;
  }
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2)) {
      out.push_back(it->path().lexically_relative(dir).generic_string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string SumsFileFor(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d + ".ockpt-sums.json";
}

Result<VerifyReport> Verify(const VerifyOptions& opt, const Context& ctx) {
  VerifyReport r;
  r.path = opt.path;
  if (!PathExists(opt.path)) return MissingPathError(opt.path, NotFoundError("{} does not exist", opt.path));
  auto ckpt = OpenCheckpoint(opt.path, opt.open);
  if (!ckpt.ok()) {
    auto kind = Classify(opt.path);
    if (ckpt.status().code() == StatusCode::kNotFound &&
        (!kind.ok() || *kind == LocationKind::kRoot || *kind == LocationKind::kNotCheckpoint)) {
      return ckpt.status();
    }
    r.problems.push_back(ckpt.status().message());
    return r;
  }
  r.step = ckpt->step;
  r.dir = ckpt->dir;
  for (const std::string& note : ckpt->notes) r.notes.push_back(note);
  if (!ckpt->incomplete.empty()) r.notes.push_back(fmt::format("{}: not committed: {}", ckpt->dir, ckpt->incomplete));
  if (IsTmpName(Basename(ckpt->dir))) {
    r.problems.push_back(
        fmt::format("{} is an in-progress (uncommitted) checkpoint directory", ckpt->dir));
  }
  if (ckpt->checkpoint_metadata.is_object() &&
      !ckpt->checkpoint_metadata.contains("commit_timestamp_nsecs")) {
    r.notes.push_back(
        fmt::format("{}: _CHECKPOINT_METADATA has no commit_timestamp_nsecs", ckpt->dir));
  }
  std::map<std::string, std::string> leaf_sums;
  std::map<std::string, uint64_t> leaf_chunks;  // leaves decoded fine: their chunk counts
  std::map<std::string, uint64_t> checksummed;  // ... chunks of them with their own checksum
  for (const ItemEntry& e : ckpt->items) {
    std::string label = e.name.empty() ? "" : e.name + "/";
    if (e.kind != ItemKind::kPyTree) continue;
    RangesByFile ranges;
    if (IsRegularFile(JoinPath(e.dir, kManifestFile))) CheckDatabase(e.dir, &r, &ranges);
    if (auto names = ListDirectory(e.dir); names.ok()) {
      for (const std::string& n : *names) {
        if (n.rfind(kProcessDirPrefix, 0) == 0 && IsDirectory(JoinPath(e.dir, n))) {
          CheckDatabase(JoinPath(e.dir, n), &r, &ranges);
        }
      }
    }
    CheckValueRanges(&ranges, &r);
    for (std::string& p : CheckItemJsonFiles(e.dir)) r.problems.push_back(std::move(p));
    if (!e.pytree) {
      r.problems.push_back(fmt::format("item '{}': {}", e.name, e.error.message()));
      continue;
    }
    const PyTreeItem& item = *e.pytree;
    if (!item.leaf_error().ok()) r.problems.push_back(item.leaf_error().message());
    for (const LeafRecord& leaf : item.leaves()) ctx.AddProgressTotal(LeafBytes(leaf));
    for (size_t i = 0; i < item.leaves().size(); ++i) {
      const LeafRecord& leaf = item.leaves()[i];
      if (!leaf.HasArrayData()) continue;
      std::string sha;
      Status s = CheckLeaf(item, i, ctx, &sha);
      ++r.leaves_checked;
      if (!s.ok()) {
        r.problems.push_back(fmt::format("leaf '{}{}': {}", label, leaf.name(), s.message()));
      } else {
        leaf_sums[label + leaf.name()] = sha;
        leaf_chunks[label + leaf.name()] = item.LeafReadPlan(i).chunks;
      }
    }
    CheckChunkKeys(item, label, &r, &checksummed);
  }

  std::string base = ckpt->dir;
  std::string sums_path = SumsFileFor(base);
  bool check_sums = opt.check_sums || (!opt.write_sums && IsRegularFile(sums_path));
  r.sums_automatic = check_sums && !opt.check_sums;
  std::set<std::string> covered;  // leaves whose sums matched
  if (opt.write_sums || check_sums) {
    std::map<std::string, std::string> file_sums;
    for (const std::string& f : AllFiles(base)) {
      auto sha = Sha256File(JoinPath(base, f));
      ++r.files_checked;
      if (!sha.ok()) {
        r.problems.push_back(sha.status().message());
      } else {
        file_sums[f] = *sha;
      }
    }
    r.sums_file = sums_path;
    if (opt.write_sums) {
      if (!r.ok()) {
        r.problems.push_back(fmt::format("{} not written: the checkpoint has problems", sums_path));
      } else {
        Json doc;
        doc["format"] = "ockpt-sums/1";
        doc["algorithm"] = "sha256";
        doc["leaves"] = leaf_sums;
        doc["files"] = file_sums;
        OCKPT_RETURN_IF_ERROR(WriteFile(sums_path, DumpJson(doc, 2) + "\n", /*sync=*/true));
      }
    } else {
      auto text = ReadFile(sums_path, uint64_t{1} << 30);
      if (!text.ok())
        return NotFoundError("{}: no sums to check ({})", sums_path, text.status().message());
      auto doc = ParseJson(*text);
      if (!doc.ok() || !doc->is_object() || !(*doc)["leaves"].is_object() ||
          !(*doc)["files"].is_object()) {
        r.problems.push_back(fmt::format("{}: not an ockpt sums file", sums_path));
      } else {
        r.sums_checked = true;
        for (const auto& [name, want] : (*doc)["files"].items()) {
          auto it = file_sums.find(name);
          if (it == file_sums.end()) {
            r.problems.push_back(fmt::format("file {} is missing", JoinPath(base, name)));
          } else if (!want.is_string() || it->second != want.get<std::string>()) {
            r.problems.push_back(
                fmt::format("file {}: SHA-256 differs from {}", JoinPath(base, name), sums_path));
          }
        }
        for (const auto& [name, sha] : file_sums) {
          if (!(*doc)["files"].contains(name))
            r.notes.push_back(fmt::format("file {} is not in {}", JoinPath(base, name), sums_path));
        }
        for (const auto& [name, want] : (*doc)["leaves"].items()) {
          auto it = leaf_sums.find(name);
          if (it == leaf_sums.end()) {
            r.problems.push_back(
                fmt::format("leaf '{}' could not be checked against {}", name, sums_path));
          } else if (!want.is_string() || it->second != want.get<std::string>()) {
            r.problems.push_back(
                fmt::format("leaf '{}': decoded values differ from {}", name, sums_path));
          } else {
            covered.insert(name);
          }
        }
      }
    }
  }
  for (const auto& [name, chunks] : leaf_chunks) {
    auto it = checksummed.find(name);
    uint64_t proven = it == checksummed.end() ? 0 : std::min(it->second, chunks);
    r.checksummed_chunks += proven;
    if (covered.count(name) || opt.write_sums) continue;  // written sums: a later verify proves them
    if (proven == chunks) continue;
    r.no_checksum_leaves.push_back(name);
    r.no_checksum_chunks += chunks - proven;
  }
  return r;
}

Json VerifyReportToJson(const VerifyReport& r) {
  Json j;
  j["path"] = r.path;
  j["ok"] = r.ok();
  // Messages name keys and files, which are bytes: escaped as in text output.
  j["problems"] = Json::array();
  for (const std::string& p : r.problems) j["problems"].push_back(TextLine(p));
  j["notes"] = Json::array();
  for (const std::string& n : r.notes) j["notes"].push_back(TextLine(n));
  j["leaves_checked"] = r.leaves_checked;
  j["files_checked"] = r.files_checked;
  j["sums_file"] = r.sums_file.empty() ? Json(nullptr) : Json(r.sums_file);
  j["step"] = r.step ? Json(*r.step) : Json(nullptr);
  j["checkpoint_dir"] = r.dir;
  j["sums_checked"] = r.sums_checked;
  j["checksummed_chunks"] = r.checksummed_chunks;
  j["no_checksum"] = {{"leaves", r.no_checksum_leaves}, {"chunks", r.no_checksum_chunks}};
  return j;
}

void PrintVerifyReport(const VerifyReport& r, std::ostream& out) {
  for (const std::string& p : r.problems) out << "problem: " << TextLine(p) << "\n";
  for (const std::string& n : r.notes) out << "note: " << TextLine(n) << "\n";
  if (!r.no_checksum_leaves.empty()) {
    // Name a few; all of them are in --json.
    std::string names;
    for (size_t k = 0; k < r.no_checksum_leaves.size() && k < 8; ++k) {
      names += (k ? ", " : "") + TextLine(r.no_checksum_leaves[k]);
    }
    if (r.no_checksum_leaves.size() > 8) names += fmt::format(", ... ({} more)", r.no_checksum_leaves.size() - 8);
    out << fmt::format(
        "note: decoded, no checksum: {} chunks of {} leaves carry no checksum of their own, so only that they "
        "decode was proven, not that they hold the saved values ({}); sums recorded by verify "
        "(its write-sums mode) let later runs check them\n",
        r.no_checksum_chunks, r.no_checksum_leaves.size(), names);
  }
  if (r.checksummed_chunks > 0) {
    out << fmt::format("note: {} chunks carry checksums of their own, which decoding checked\n",
                       r.checksummed_chunks);
  }
  if (r.sums_checked) {
    out << fmt::format("note: leaf values and files checked against {}{}\n", r.sums_file,
                       r.sums_automatic ? " (found next to the checkpoint)" : "");
  }
  std::string what = r.path;
  if (r.step) what += fmt::format(" (step {}, {})", *r.step, r.dir);
  out << fmt::format("{}: {} ({} leaves decoded{})\n", TextLine(what),
                     r.ok() ? "OK" : fmt::format("{} problems", r.problems.size()),
                     r.leaves_checked,
                     r.sums_file.empty() ? "" : fmt::format(", {} files hashed", r.files_checked));
}

}  // namespace ockpt::orbax
