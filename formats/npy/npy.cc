// .npy header encoding and parsing, and the streaming file writer.

#include "formats/npy/npy.h"

#include <fmt/format.h>

#include <cctype>

#include "lib/base/utf8.h"

namespace ockpt::npy {

Bytes EncodeNpyHeader(const NpyHeader& h) {
  std::string shape;
  for (size_t i = 0; i < h.shape.size(); ++i) {
    shape += fmt::format("{}{}", i ? ", " : "", h.shape[i]);
  }
  if (h.shape.size() == 1) shape += ",";
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': ({}), }}",
                                 h.descr, h.fortran_order ? "True" : "False", shape);
  size_t total = 10 + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict.push_back('\n');
  Bytes out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(dict.size() & 0xff));
  out.push_back(static_cast<char>(dict.size() >> 8));
  out += dict;
  return out;
}

namespace {

// Skips spaces; returns false at the end.
void SkipSpace(std::string_view s, size_t* i) {
  while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t')) ++*i;
}

Result<std::string> ParseQuoted(std::string_view s, size_t* i) {
  SkipSpace(s, i);
  if (*i >= s.size() || (s[*i] != '\'' && s[*i] != '"')) {
    return DataLossError("npy header: expected a quoted string at {}", *i);
  }
  char q = s[(*i)++];
  size_t end = s.find(q, *i);
  if (end == std::string_view::npos) return DataLossError("npy header: unterminated string");
  std::string v(s.substr(*i, end - *i));
  *i = end + 1;
  return v;
}

Status Expect(std::string_view s, size_t* i, char c) {
  SkipSpace(s, i);
  if (*i >= s.size() || s[*i] != c) return DataLossError("npy header: expected '{}' at {}", c, *i);
  ++*i;
  return Status::Ok();
}

}  // namespace

Result<NpyHeader> DecodeNpyHeader(ByteView data, size_t* data_offset) {
  if (data.size() < 10 || data.substr(0, 6) != ByteView("\x93NUMPY", 6)) {
    return DataLossError("not a .npy file (bad magic)");
  }
  uint8_t major = static_cast<uint8_t>(data[6]);
  size_t len_size = major == 1 ? 2 : 4;
  if (major < 1 || major > 3) return UnimplementedError(".npy format version {} is not supported", major);
  if (data.size() < 8 + len_size) return DataLossError("truncated .npy header");
  size_t hlen = len_size == 2 ? (uint8_t(data[8]) | uint8_t(data[9]) << 8) : LoadU32LE(data.data() + 8);
  size_t start = 8 + len_size;
  if (hlen > data.size() - start) {
    return DataLossError(".npy header says {} bytes, only {} present", hlen, data.size() - start);
  }
  std::string_view s = data.substr(start, hlen);
  NpyHeader h;
  bool have_descr = false, have_order = false, have_shape = false;
  size_t i = 0;
  OCKPT_RETURN_IF_ERROR(Expect(s, &i, '{'));
  while (true) {
    SkipSpace(s, &i);
    if (i < s.size() && s[i] == '}') break;
    OCKPT_ASSIGN_OR_RETURN(std::string key, ParseQuoted(s, &i));
    OCKPT_RETURN_IF_ERROR(Expect(s, &i, ':'));
    SkipSpace(s, &i);
    if ((key == "descr" && have_descr) || (key == "fortran_order" && have_order) ||
        (key == "shape" && have_shape)) {
      return DataLossError("npy header: '{}' given twice", key);
    }
    if (key == "descr") {
      OCKPT_ASSIGN_OR_RETURN(h.descr, ParseQuoted(s, &i));
      // A simple dtype's str ('<f4', '|b1', '<M8[ns]', ...); structured
      // dtypes are lists, not strings, and are not supported.
      for (char c : h.descr) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view("<>|=[]_").find(c) == std::string_view::npos) {
          return DataLossError("npy header: descr '{}' is not a simple dtype", EscapeBytes(h.descr));
        }
      }
      have_descr = true;
    } else if (key == "fortran_order") {
      if (s.substr(i, 4) == "True") {
        h.fortran_order = true;
        i += 4;
      } else if (s.substr(i, 5) == "False") {
        i += 5;
      } else {
        return DataLossError("npy header: fortran_order must be True or False");
      }
      have_order = true;
    } else if (key == "shape") {
      OCKPT_RETURN_IF_ERROR(Expect(s, &i, '('));
      while (true) {
        SkipSpace(s, &i);
        if (i < s.size() && s[i] == ')') {
          ++i;
          break;
        }
        int64_t v = 0;
        size_t digits = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 18) {
          v = v * 10 + (s[i++] - '0');
          ++digits;
        }
        if (digits == 0) return DataLossError("npy header: bad shape");
        h.shape.push_back(v);
        SkipSpace(s, &i);
        if (i < s.size() && s[i] == ',') ++i;
      }
      have_shape = true;
    } else {
      return DataLossError("npy header: unexpected key '{}'", key);
    }
    SkipSpace(s, &i);
    if (i < s.size() && s[i] == ',') ++i;
  }
  if (!have_descr || !have_order || !have_shape) {
    return DataLossError("npy header lacks descr, fortran_order or shape");
  }
  *data_offset = start + hlen;
  return h;
}

Result<NpyFileWriter> NpyFileWriter::Create(const std::string& path, const NpyHeader& header,
                                            uint64_t data_bytes) {
  OCKPT_ASSIGN_OR_RETURN(WritableFile f, WritableFile::Create(path));
  Bytes hdr = EncodeNpyHeader(header);
  OCKPT_RETURN_IF_ERROR(f.Append(hdr));
  OCKPT_RETURN_IF_ERROR(f.Truncate(hdr.size() + data_bytes));
  return NpyFileWriter(std::move(f), hdr.size(), data_bytes);
}

Status NpyFileWriter::WriteAt(uint64_t offset, ByteView data) {
  if (offset > data_bytes_ || data.size() > data_bytes_ - offset) {
    return InternalError("write of {} bytes at {} outside the {}-byte array in {}", data.size(),
                         offset, data_bytes_, file_.path());
  }
  return file_.WriteAt(data_offset_ + offset, data);
}

Status NpyFileWriter::CopyFromFile(uint64_t offset, const RandomAccessFile& src,
                                   uint64_t src_offset, uint64_t n) {
  if (offset > data_bytes_ || n > data_bytes_ - offset) {
    return InternalError("copy of {} bytes at {} outside the {}-byte array in {}", n, offset,
                         data_bytes_, file_.path());
  }
  return file_.CopyFrom(data_offset_ + offset, src, src_offset, n);
}

Status NpyFileWriter::Close() { return file_.Close(); }

}  // namespace ockpt::npy
