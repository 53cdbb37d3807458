#pragma once
// Helpers shared by the io tests: random raw tensors, byte/string conversion and error matchers.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "mvq/io/dtype.hpp"

namespace io_test {

using mvq::io::dtype;

/// The dtypes as types, for TEMPLATE_LIST_TEST_CASE.
template <dtype T>
using dt = std::integral_constant<dtype, T>;
using all_dtype_list = std::tuple<dt<dtype::f64>, dt<dtype::f32>, dt<dtype::f16>, dt<dtype::bf16>, dt<dtype::f8_e4m3>,
                                  dt<dtype::f8_e5m2>, dt<dtype::i8>, dt<dtype::i16>, dt<dtype::i32>, dt<dtype::i64>,
                                  dt<dtype::u8>, dt<dtype::u16>, dt<dtype::u32>, dt<dtype::u64>, dt<dtype::boolean>>;
/// The dtypes that have a NumPy type code.
using npy_dtype_list = std::tuple<dt<dtype::f64>, dt<dtype::f32>, dt<dtype::f16>, dt<dtype::i8>, dt<dtype::i16>,
                                  dt<dtype::i32>, dt<dtype::i64>, dt<dtype::u8>, dt<dtype::u16>, dt<dtype::u32>,
                                  dt<dtype::u64>, dt<dtype::boolean>>;

/// `n` random elements of `t` as raw bytes (BOOL elements are 0 or 1).
inline std::vector<std::byte> random_bytes(dtype t, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> out(n * mvq::io::dtype_size(t));
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xffu);
  if (t == dtype::boolean)
    for (auto& b : out) b = static_cast<std::byte>(std::to_integer<unsigned>(b) & 1u);
  return out;
}

inline std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::byte>(static_cast<unsigned char>(s[i]));
  return out;
}

inline void append(std::vector<std::byte>& out, std::string_view s) {
  auto b = bytes_of(s);
  out.insert(out.end(), b.begin(), b.end());
}

inline void append_u64(std::vector<std::byte>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xffu));
}

/// A safetensors image from a header text (its real length unless `declared` is given) and `data_bytes` bytes
/// of data 0, 1, 2, ...
inline std::vector<std::byte> safetensors_image(std::string_view header, std::size_t data_bytes,
                                                std::uint64_t declared = static_cast<std::uint64_t>(-1)) {
  std::vector<std::byte> out;
  append_u64(out, declared == static_cast<std::uint64_t>(-1) ? header.size() : declared);
  append(out, header);
  for (std::size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<std::byte>(i & 0xffu));
  return out;
}

inline std::vector<std::byte> read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) out[i] = static_cast<std::byte>(static_cast<unsigned char>(c[i]));
  return out;
}

inline void write_all(const std::filesystem::path& p, const std::vector<std::byte>& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

/// Number of directory entries in `dir`.
inline std::size_t entries_in(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace io_test

/// Checks that `res` failed with code `c` and a message containing every one of the phrases.
#define REQUIRE_ERROR(res, c, ...)                                                     \
  do {                                                                                 \
    const auto& res_ = (res);                                                          \
    REQUIRE_FALSE(res_.has_value());                                                   \
    INFO("error: " << res_.error().what());                                            \
    CHECK(res_.error().code == (c));                                                   \
    for (std::string_view phrase_ : {__VA_ARGS__}) CHECK_THAT(res_.error().message,    \
                                                              Catch::Contains(std::string(phrase_))); \
  } while (false)
