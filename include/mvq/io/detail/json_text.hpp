#pragma once
/// @file
/// Small JSON text helpers of the io area: UTF-8 validation, string escaping, a nesting-depth pre-check, and a
/// parse-error locator, all free of exceptions.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mvq/version.hpp"

namespace mvq::inline v0::io::detail {

/// True when `s` is well-formed UTF-8 (Unicode 15, table 3-7: no overlong forms, no surrogates, ≤ U+10FFFF).
[[nodiscard]] inline bool is_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < n) {
    const unsigned c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c == 0xe0) { len = 3; lo = 0xa0; }
    else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) len = 3;
    else if (c == 0xed) { len = 3; hi = 0x9f; }
    else if (c == 0xf0) { len = 4; lo = 0x90; }
    else if (c >= 0xf1 && c <= 0xf3) len = 4;
    else if (c == 0xf4) { len = 4; hi = 0x8f; }
    else return false;
    if (n - i < len) return false;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return false;
    for (std::size_t k = 2; k < len; ++k)
      if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return false;
    i += len;
  }
  return true;
}

/// Appends `s` as a JSON string literal (quotes included). `s` must be valid UTF-8; bytes ≥ 0x80 pass through.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xf]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

/// The deepest nesting of objects and arrays in JSON-like text (strings and their escapes are skipped). Used to
/// reject absurd nesting before building a DOM.
[[nodiscard]] inline std::size_t json_depth(std::string_view text) noexcept {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > deepest) deepest = depth;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

/// A SAX consumer that accepts everything and records nlohmann's description of the first syntax error.
struct json_error_locator {
  using json = nlohmann::json;
  std::string message;
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const json::string_t&) { return true; }
  bool string(json::string_t&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool start_object(std::size_t) { return true; }
  bool key(json::string_t&) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& ex) {
    message = ex.what();
    return false;
  }
};

/// nlohmann's message for the first syntax error in `text` ("parse error at line 1, column 7: ..."), or an
/// empty string when the text is valid JSON.
[[nodiscard]] inline std::string json_syntax_error(std::string_view text) {
  json_error_locator loc;
  (void)nlohmann::json::sax_parse(text.begin(), text.end(), &loc);
  // Strip nlohmann's "[json.exception.parse_error.101] " prefix: it names the library, not the problem.
  std::string_view m = loc.message;
  if (auto p = m.find("] "); p != std::string_view::npos && !m.empty() && m.front() == '[') m.remove_prefix(p + 2);
  return std::string(m);
}

}  // namespace mvq::inline v0::io::detail
