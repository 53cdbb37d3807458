#pragma once
/// @file
/// NumPy `.npy` read/write (format versions 1.0, 2.0 and 3.0, as specified by NumPy's NEP 1 and
/// `numpy.lib.format`): the magic "\x93NUMPY", a major and a minor version byte, a little-endian header length
/// (2 bytes in 1.0, 4 bytes in 2.0/3.0), then a Python-literal dict
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and ended by '\n', then the
/// raw elements.
///
/// Supported element types are NumPy's counterparts of `io::dtype` (bfloat16 and fp8 have no NumPy type code):
/// '<f8' '<f4' '<f2' '|i1' '<i2' '<i4' '<i8' '|u1' '<u2' '<u4' '<u8' '|b1'. Big-endian files ('>f4' ...) are
/// read and byte-swapped, so `npy_array::data` is always little-endian; files are always written little-endian.
/// The header dict is parsed by a small strict parser (not an evaluator): exactly the three keys, each once.
/// The data must be exactly shape × itemsize bytes; trailing bytes are an error (NumPy ignores them).

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mvq/core/error.hpp"
#include "mvq/io/detail/file.hpp"
#include "mvq/io/detail/shape.hpp"
#include "mvq/io/dtype.hpp"

namespace mvq::inline v0::io {

/// An array read from or to be written to a `.npy` file.
struct npy_array {
  dtype type = dtype::f32;            ///< element type
  std::vector<std::uint64_t> shape;   ///< dimensions, outermost first; empty for a 0-d array
  bool fortran_order = false;         ///< data is column-major (first index varies fastest)
  std::vector<std::byte> data;        ///< elements in storage order, little-endian

  /// Product of the shape (1 for a 0-d array).
  [[nodiscard]] std::uint64_t elements() const noexcept {
    std::uint64_t n = 1;
    for (std::uint64_t d : shape) n *= d;
    return n;
  }
};

/// Header version written by `to_npy_bytes` / `write_npy`. `automatic` picks 1.0 when the header fits its
/// 2-byte length and 2.0 otherwise, like NumPy (3.0 only adds a UTF-8 header, which this writer never needs).
enum class npy_version : std::uint8_t { automatic, v1_0, v2_0, v3_0 };

/// Largest header (dict plus padding) accepted, in bytes. NumPy's own reader (1.24, `max_header_size`) stops at
/// 10000 unless told otherwise; a 1 MiB bound still rejects absurd headers before anything is allocated.
inline constexpr std::uint64_t npy_max_header = 1u << 20;

/// NumPy type code of a dtype in little-endian order ("<f4", "|b1", ...); nullopt for bf16 and fp8.
[[nodiscard]] constexpr std::optional<std::string_view> npy_descr(dtype t) noexcept {
  switch (t) {
    case dtype::f64: return "<f8";
    case dtype::f32: return "<f4";
    case dtype::f16: return "<f2";
    case dtype::i8: return "|i1";
    case dtype::i16: return "<i2";
    case dtype::i32: return "<i4";
    case dtype::i64: return "<i8";
    case dtype::u8: return "|u1";
    case dtype::u16: return "<u2";
    case dtype::u32: return "<u4";
    case dtype::u64: return "<u8";
    case dtype::boolean: return "|b1";
    case dtype::bf16: case dtype::f8_e4m3: case dtype::f8_e5m2: return std::nullopt;
  }
  return std::nullopt;
}

namespace detail {

/// The first six bytes of every .npy file.
inline constexpr unsigned char npy_magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/// A parsed NumPy type code.
struct npy_type {
  dtype type;
  bool big_endian;
};

/// Parses a type code such as "<f4", ">i2", "|u1" or "=f8" ('=' means the byte order of the host reading it).
[[nodiscard]] inline std::optional<npy_type> parse_npy_descr(std::string_view d) noexcept {
  if (d.size() != 3) return std::nullopt;
  const char order = d[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') return std::nullopt;
  std::optional<dtype> t;
  const std::string_view code = d.substr(1);
  if (code == "f8") t = dtype::f64;
  else if (code == "f4") t = dtype::f32;
  else if (code == "f2") t = dtype::f16;
  else if (code == "i1") t = dtype::i8;
  else if (code == "i2") t = dtype::i16;
  else if (code == "i4") t = dtype::i32;
  else if (code == "i8") t = dtype::i64;
  else if (code == "u1") t = dtype::u8;
  else if (code == "u2") t = dtype::u16;
  else if (code == "u4") t = dtype::u32;
  else if (code == "u8") t = dtype::u64;
  else if (code == "b1") t = dtype::boolean;
  if (!t) return std::nullopt;
  // '|' (not applicable) is only valid for one-byte types; NumPy never writes '<'/'>' for them but accepts it.
  if (order == '|' && dtype_size(*t) != 1) return std::nullopt;
  const bool big = order == '>' || (order == '=' && std::endian::native == std::endian::big);
  return npy_type{*t, big && dtype_size(*t) > 1};
}

/// The header dict of a .npy file.
struct npy_header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
};

/// A strict parser for the Python-literal dict of a .npy header: strings ('...' or "..." without escapes),
/// True/False, non-negative integers and tuples of them, whitespace between tokens, trailing commas.
class npy_dict_parser {
public:
  npy_dict_parser(std::string_view text, const std::string& name) : s_(text), name_(name) {}

  [[nodiscard]] result<npy_header> parse() {
    npy_header h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    skip_ws();
    if (!eat('{')) return bad("header does not start with '{'");
    for (;;) {
      skip_ws();
      if (eat('}')) break;
      auto key = string_literal();
      if (!key) return tl::unexpected(std::move(key.error()));
      skip_ws();
      if (!eat(':')) return bad("expected ':' after key '" + *key + "'");
      skip_ws();
      if (*key == "descr") {
        if (seen_descr) return bad("key 'descr' appears twice");
        seen_descr = true;
        if (peek() == '[') return fail(errc::unsupported, name_ + ": structured dtypes (a list descr) are not supported");
        auto v = string_literal();
        if (!v) return tl::unexpected(std::move(v.error()));
        h.descr = std::move(*v);
      } else if (*key == "fortran_order") {
        if (seen_order) return bad("key 'fortran_order' appears twice");
        seen_order = true;
        if (word("True")) h.fortran_order = true;
        else if (word("False")) h.fortran_order = false;
        else return bad("fortran_order is not True or False");
      } else if (*key == "shape") {
        if (seen_shape) return bad("key 'shape' appears twice");
        seen_shape = true;
        auto v = tuple();
        if (!v) return tl::unexpected(std::move(v.error()));
        h.shape = std::move(*v);
      } else {
        return bad("unexpected key '" + *key + "' (expected descr, fortran_order, shape)");
      }
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat('}')) break;
      return bad("expected ',' or '}' after the value of '" + *key + "'");
    }
    skip_ws();
    if (pos_ != s_.size()) return bad("unexpected text after the closing '}'");
    if (!seen_descr) return bad("key 'descr' is missing");
    if (!seen_order) return bad("key 'fortran_order' is missing");
    if (!seen_shape) return bad("key 'shape' is missing");
    return h;
  }

private:
  [[nodiscard]] tl::unexpected<error> bad(const std::string& what) const {
    return fail(errc::corrupt_file, name_ + ": npy header: " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  [[nodiscard]] char peek() const noexcept { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) noexcept {
    if (pos_ >= s_.size() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void skip_ws() noexcept {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool word(std::string_view w) noexcept {
    if (s_.substr(pos_, w.size()) != w) return false;
    const std::size_t after = pos_ + w.size();
    if (after < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[after])) || s_[after] == '_')) return false;
    pos_ = after;
    return true;
  }
  [[nodiscard]] result<std::string> string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') return bad("expected a quoted string");
    const std::size_t start = ++pos_;
    while (pos_ < s_.size() && s_[pos_] != q) {
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '\\' || c < 0x20 || c >= 0x7f) return bad("unsupported character in a string");
      ++pos_;
    }
    if (pos_ >= s_.size()) return bad("unterminated string");
    std::string out(s_.substr(start, pos_ - start));
    ++pos_;
    return out;
  }
  [[nodiscard]] result<std::uint64_t> integer() {
    if (peek() < '0' || peek() > '9') return bad("expected a non-negative integer in shape");
    std::uint64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const auto digit = static_cast<std::uint64_t>(peek() - '0');
      if (v > (static_cast<std::uint64_t>(-1) - digit) / 10)
        return fail(errc::too_large, name_ + ": npy header: a shape entry does not fit 64 bits");
      v = v * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L' || peek() == 'l') ++pos_;  // Python 2 long suffix, written by old NumPy versions
    return v;
  }
  [[nodiscard]] result<std::vector<std::uint64_t>> tuple() {
    if (!eat('(')) return bad("shape is not a tuple");
    std::vector<std::uint64_t> dims;
    bool trailing_comma = false;
    for (;;) {
      skip_ws();
      if (eat(')')) break;
      if (dims.size() >= 64) return bad("shape has more than 64 dimensions");
      auto v = integer();
      if (!v) return tl::unexpected(std::move(v.error()));
      dims.push_back(*v);
      skip_ws();
      trailing_comma = eat(',');
      if (trailing_comma) continue;
      skip_ws();
      if (eat(')')) break;
      return bad("expected ',' or ')' in shape");
    }
    // In Python "(3)" is the integer 3, not a tuple: a one-element tuple needs its comma.
    if (dims.size() == 1 && !trailing_comma) return bad("shape (n) is an integer, not a tuple: write (n,)");
    return dims;
  }

  std::string_view s_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

/// Reverses the bytes of every `size`-byte element in place.
inline void byteswap_elements(std::span<std::byte> data, std::size_t size) noexcept {
  for (std::size_t i = 0; i + size <= data.size(); i += size) std::reverse(data.begin() + static_cast<std::ptrdiff_t>(i),
                                                                           data.begin() + static_cast<std::ptrdiff_t>(i + size));
}

}  // namespace detail

/// Parses a complete .npy image; `name` is used in error messages. Validates the magic, version, header length,
/// dict, type code and shape × itemsize == data size before allocating the data.
[[nodiscard]] inline result<npy_array> parse_npy(std::span<const std::byte> bytes, std::string name = "<memory>") {
  if (bytes.size() < 8)
    return fail(errc::corrupt_file, name + ": file is " + std::to_string(bytes.size()) +
                                        " bytes, shorter than the 8-byte .npy magic and version");
  if (!std::equal(std::begin(detail::npy_magic), std::end(detail::npy_magic), bytes.begin(), [](unsigned char m, std::byte b) {
        return std::to_integer<unsigned char>(b) == m;
      }))
    return fail(errc::corrupt_file, name + ": not a .npy file (the magic \\x93NUMPY is missing)");
  const unsigned major = std::to_integer<unsigned>(bytes[6]), minor = std::to_integer<unsigned>(bytes[7]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    return fail(errc::unsupported, name + ": npy format version " + std::to_string(major) + "." +
                                       std::to_string(minor) + " is not supported (1.0, 2.0 and 3.0 are)");
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + len_bytes)
    return fail(errc::corrupt_file, name + ": file ends inside the npy header length");
  const std::uint64_t header_len = major == 1 ? detail::load_le<std::uint16_t>(bytes.data() + 8)
                                              : detail::load_le<std::uint32_t>(bytes.data() + 8);
  const std::uint64_t header_start = 8 + len_bytes;
  if (header_len > bytes.size() - header_start)
    return fail(errc::corrupt_file, name + ": npy header length " + std::to_string(header_len) + " exceeds the " +
                                        std::to_string(bytes.size() - header_start) +
                                        " bytes that follow it (truncated file?)");
  if (header_len > npy_max_header)
    return fail(errc::too_large, name + ": npy header length " + std::to_string(header_len) +
                                     " exceeds the limit of " + std::to_string(npy_max_header) + " bytes");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + header_start),
                              static_cast<std::size_t>(header_len));
  auto h = detail::npy_dict_parser(text, name).parse();
  if (!h) return tl::unexpected(std::move(h.error()));
  const auto t = detail::parse_npy_descr(h->descr);
  if (!t)
    return fail(errc::unsupported, name + ": npy dtype '" + h->descr +
                                       "' is not supported (numeric and bool little- or big-endian types are)");
  const auto size = detail::byte_size(h->shape, t->type);
  if (!size)
    return fail(errc::too_large, name + ": npy shape " + detail::shape_string(h->shape) + " of '" + h->descr +
                                     "' overflows a 64-bit byte count");
  const std::uint64_t available = bytes.size() - header_start - header_len;
  if (*size != available)
    return fail(errc::corrupt_file, name + ": npy shape " + detail::shape_string(h->shape) + " of '" + h->descr +
                                        "' needs " + std::to_string(*size) + " data bytes but the file holds " +
                                        std::to_string(available) +
                                        (*size > available ? " (truncated file?)" : " (trailing bytes)"));
  npy_array a;
  a.type = t->type;
  a.shape = std::move(h->shape);
  a.fortran_order = h->fortran_order;
  const auto first = bytes.begin() + static_cast<std::ptrdiff_t>(header_start + header_len);
  a.data.assign(first, bytes.end());
  if (t->big_endian) detail::byteswap_elements(a.data, dtype_size(a.type));
  return a;
}

/// Reads and validates a .npy file (mapped read-only while it is parsed, so the data is copied once).
[[nodiscard]] inline result<npy_array> read_npy(const std::filesystem::path& path) {
  auto m = detail::mapped_file::map(path);
  if (!m) return tl::unexpected(std::move(m.error()));
  return parse_npy(m->bytes(), path.string());
}

/// The complete .npy image of `a`, with the header NumPy itself would write (keys sorted, ", }" ending, padded
/// with spaces to a multiple of 64 bytes and ended by '\n'). Errors: a dtype without a NumPy type code, a data
/// size that differs from shape × itemsize, or a header too long for the requested version.
[[nodiscard]] inline result<std::vector<std::byte>> to_npy_bytes(const npy_array& a,
                                                                 npy_version version = npy_version::automatic) {
  const auto descr = npy_descr(a.type);
  if (!descr)
    return fail(errc::unsupported, "npy: dtype " + std::string(dtype_name(a.type)) + " has no NumPy type code");
  const auto size = detail::byte_size(a.shape, a.type);
  if (!size || *size != a.data.size())
    return fail(errc::shape_mismatch, "npy: shape " + detail::shape_string(a.shape) + " of " +
                                          std::string(dtype_name(a.type)) + " does not match the " +
                                          std::to_string(a.data.size()) + " data bytes");
  std::string dict = "{'descr': '" + std::string(*descr) + "', 'fortran_order': " +
                     (a.fortran_order ? "True" : "False") + ", 'shape': (";
  for (std::size_t i = 0; i < a.shape.size(); ++i) {
    if (i) dict += ", ";
    dict += std::to_string(a.shape[i]);
  }
  if (a.shape.size() == 1) dict += ',';
  dict += "), }";
  // numpy.lib.format: total header (magic, version, length, dict, padding, '\n') is a multiple of ARRAY_ALIGN = 64.
  auto padded = [&](std::size_t len_bytes) {
    const std::size_t used = 8 + len_bytes + dict.size() + 1;
    return dict.size() + (64 - used % 64) % 64 + 1;
  };
  if (version == npy_version::automatic) version = padded(2) <= 0xffff ? npy_version::v1_0 : npy_version::v2_0;
  const std::size_t len_bytes = version == npy_version::v1_0 ? 2 : 4;
  const std::size_t header_len = padded(len_bytes);
  if (len_bytes == 2 && header_len > 0xffff)
    return fail(errc::too_large, "npy: header of " + std::to_string(header_len) + " bytes does not fit version 1.0");
  if (header_len > npy_max_header)
    return fail(errc::too_large, "npy: header of " + std::to_string(header_len) + " bytes exceeds the limit");
  std::vector<std::byte> out;
  out.reserve(8 + len_bytes + header_len + a.data.size());
  for (unsigned char c : detail::npy_magic) out.push_back(static_cast<std::byte>(c));
  out.push_back(static_cast<std::byte>(version == npy_version::v1_0 ? 1 : version == npy_version::v2_0 ? 2 : 3));
  out.push_back(std::byte{0});
  out.resize(out.size() + len_bytes);
  if (len_bytes == 2) detail::store_le<std::uint16_t>(out.data() + 8, static_cast<std::uint16_t>(header_len));
  else detail::store_le<std::uint32_t>(out.data() + 8, static_cast<std::uint32_t>(header_len));
  for (char c : dict) out.push_back(static_cast<std::byte>(c));
  out.resize(out.size() + (header_len - dict.size() - 1), std::byte{' '});
  out.push_back(std::byte{'\n'});
  out.insert(out.end(), a.data.begin(), a.data.end());
  return out;
}

/// Writes `a` as a .npy file atomically (temporary file in the same folder, fsync, rename); on failure the
/// temporary file is removed and an existing `path` is left untouched.
[[nodiscard]] inline result<void> write_npy(const std::filesystem::path& path, const npy_array& a,
                                            npy_version version = npy_version::automatic) {
  auto bytes = to_npy_bytes(a, version);
  if (!bytes) return fail(bytes.error().code, path.string() + ": " + bytes.error().message);
  return detail::write_file_atomic(path, [&](detail::file_sink& sink) { return sink.write(*bytes); });
}

/// The elements of `a` converted to fp32 in C (row-major) order, whatever the storage order.
[[nodiscard]] inline result<std::vector<float>> npy_to_f32(const npy_array& a) {
  const auto size = detail::byte_size(a.shape, a.type);
  if (!size || *size != a.data.size())
    return fail(errc::shape_mismatch, "npy: shape " + detail::shape_string(a.shape) + " does not match the " +
                                          std::to_string(a.data.size()) + " data bytes");
  std::vector<float> out(static_cast<std::size_t>(a.elements()));
  if (!a.fortran_order || a.shape.size() < 2) {
    if (auto r = convert_to_f32(a.type, a.data, out); !r) return tl::unexpected(std::move(r.error()));
    return out;
  }
  // Column-major storage: walk the C-order index (last dimension fastest) and compute its Fortran offset.
  const std::size_t rank = a.shape.size(), esize = dtype_size(a.type);
  std::vector<std::uint64_t> index(rank, 0), fstride(rank, 1);
  for (std::size_t k = 1; k < rank; ++k) fstride[k] = fstride[k - 1] * a.shape[k - 1];
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint64_t off = 0;
    for (std::size_t k = 0; k < rank; ++k) off += index[k] * fstride[k];
    out[i] = detail::element_to_f32(a.type, a.data.data() + off * esize);
    for (std::size_t k = rank; k-- > 0;) {
      if (++index[k] < a.shape[k]) break;
      index[k] = 0;
    }
  }
  return out;
}

}  // namespace mvq::inline v0::io
