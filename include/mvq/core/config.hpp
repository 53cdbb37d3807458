#pragma once
/// @file
/// Compile-time configuration shared by quantizers, kernels and the emulator: `vq_config` and `nm_pattern`.
/// Both are structural types, usable as C++20 non-type template parameters.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mvq/core/error.hpp"
#include "mvq/core/sentences.hpp"

namespace mvq::inline v0 {

/// N:M structured sparsity: in every group of M consecutive weights along the reduction axis, N are kept.
/// `{0, 0}`, and only that, means dense.
struct nm_pattern {
  std::uint8_t n = 0;  ///< weights kept per group
  std::uint8_t m = 0;  ///< group length

  [[nodiscard]] constexpr bool dense() const noexcept { return n == 0 && m == 0; }
  friend constexpr bool operator==(nm_pattern, nm_pattern) = default;
};

/// Vector-quantization shape: K codewords of dimension d.
struct vq_config {
  std::uint32_t codebook_size = 256;  ///< K, a power of two in [2, 65536]
  std::uint8_t subvector_dim = 8;     ///< d, in [1, 64]

  friend constexpr bool operator==(vq_config, vq_config) = default;
};

/// Largest group length an `nm_pattern` may have (masks are handled as 16-bit bitmaps).
inline constexpr std::uint8_t max_nm_group = 16;
/// Largest sub-vector dimension a `vq_config` may have.
inline constexpr std::uint8_t max_subvector_dim = 64;
/// Largest codebook a `vq_config` may have (16-bit indices).
inline constexpr std::uint32_t max_codebook_size = 65536;

/// What is wrong with `p` (`config_error::none` when it is valid).
[[nodiscard]] constexpr config_error diagnose(nm_pattern p) noexcept {
  if (p.dense()) return config_error::none;
  if (p.m == 0) return config_error::nm_m_zero;
  if (p.m > max_nm_group) return config_error::nm_m_too_large;
  if (p.n == 0) return config_error::nm_n_zero;
  if (p.n > p.m) return config_error::nm_n_above_m;
  return config_error::none;
}

/// What is wrong with `v`.
[[nodiscard]] constexpr config_error diagnose(vq_config v) noexcept {
  if (v.codebook_size < 2 || v.codebook_size > max_codebook_size) return config_error::vq_codebook_range;
  if (!std::has_single_bit(v.codebook_size)) return config_error::vq_codebook_power;
  if (v.subvector_dim == 0 || v.subvector_dim > max_subvector_dim) return config_error::vq_dim_range;
  return config_error::none;
}

/// What is wrong with the pair: each part on its own, then each sub-vector must hold whole N:M groups.
[[nodiscard]] constexpr config_error diagnose(vq_config v, nm_pattern p) noexcept {
  if (auto e = diagnose(v); e != config_error::none) return e;
  if (auto e = diagnose(p); e != config_error::none) return e;
  if (!p.dense() && v.subvector_dim % p.m != 0) return config_error::vq_dim_multiple_of_m;
  return config_error::none;
}

/// Empty when `p` is valid, else its sentence (core/sentences.hpp). Shared by `static_assert`s and runtime checks.
[[nodiscard]] constexpr const char* check(nm_pattern p) noexcept { return sentence(diagnose(p)); }
/// Empty when `v` is valid, else its sentence.
[[nodiscard]] constexpr const char* check(vq_config v) noexcept { return sentence(diagnose(v)); }
/// Empty when the pair is valid, else its sentence.
[[nodiscard]] constexpr const char* check(vq_config v, nm_pattern p) noexcept { return sentence(diagnose(v, p)); }

/// Runtime form of the checks above, for values that come from files or the command line.
template <class... Cfg>
[[nodiscard]] result<void> validate(Cfg... cfg) {
  if (const char* e = check(cfg...); *e) return fail(errc::invalid_argument, e);
  return {};
}

/// Bits of one codeword index: log2 K (K is a power of two).
[[nodiscard]] constexpr unsigned index_bits(std::uint32_t codebook_size) noexcept {
  return static_cast<unsigned>(std::countr_zero(codebook_size));
}

/// Kept weights per d-wide sub-vector under N:M: N·d/M (d when dense).
[[nodiscard]] constexpr std::size_t kept_per_subvector(vq_config v, nm_pattern p) noexcept {
  return p.dense() ? v.subvector_dim : std::size_t{v.subvector_dim} * p.n / p.m;
}

/// Human-readable "K256_d8" / "2:4" names, used in test and benchmark names.
[[nodiscard]] inline std::string to_string(vq_config v) {
  return "K" + std::to_string(v.codebook_size) + "_d" + std::to_string(v.subvector_dim);
}
/// "dense" or "N:M".
[[nodiscard]] inline std::string to_string(nm_pattern p) {
  return p.dense() ? std::string("dense") : std::to_string(p.n) + ":" + std::to_string(p.m);
}

/// Parses "N:M" (decimal, no spaces; "0:0" is dense) into a validated pattern. The one N:M parser: every CLI
/// option and the SCALE-Sim reader use it, and the error says what was expected.
[[nodiscard]] inline result<nm_pattern> parse_nm_pattern(std::string_view s) {
  auto bad = [&](std::string_view why) {
    return fail(errc::invalid_argument, "N:M pattern '" + std::string(s) + "': " + std::string(why));
  };
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return bad("expected N:M, e.g. 2:4");
  auto number = [](std::string_view t, unsigned& out) {
    if (t.empty() || t.size() > 3) return false;
    out = 0;
    for (char ch : t) {
      if (ch < '0' || ch > '9') return false;
      out = out * 10 + static_cast<unsigned>(ch - '0');
    }
    return true;
  };
  unsigned n = 0, m = 0;
  if (!number(s.substr(0, colon), n) || !number(s.substr(colon + 1), m)) return bad("expected N:M, e.g. 2:4");
  if (n > 255 || m > 255) return bad(sentence(config_error::nm_m_too_large));
  const nm_pattern p{static_cast<std::uint8_t>(n), static_cast<std::uint8_t>(m)};
  if (const char* e = check(p); *e) return bad(e);
  return p;
}

/// Parses "K,d" (decimal, e.g. "256,16") into a validated codebook shape: the spelling of `mvq emulate --vq` and of
/// the `VQ:` key of a SCALE-Sim configuration's [mvq] section.
[[nodiscard]] inline result<vq_config> parse_vq_config(std::string_view s) {
  auto bad = [&](std::string_view why) {
    return fail(errc::invalid_argument, "codebook shape '" + std::string(s) + "': " + std::string(why));
  };
  const auto comma = s.find(',');
  if (comma == std::string_view::npos) return bad("expected K,d, e.g. 256,16");
  auto number = [](std::string_view t, std::uint64_t& out) {
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    if (t.empty() || t.size() > 7) return false;
    out = 0;
    for (char ch : t) {
      if (ch < '0' || ch > '9') return false;
      out = out * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    return true;
  };
  std::uint64_t k = 0, d = 0;
  if (!number(s.substr(0, comma), k) || !number(s.substr(comma + 1), d)) return bad("expected K,d, e.g. 256,16");
  if (k > max_codebook_size) return bad(sentence(config_error::vq_codebook_range));
  if (d > max_subvector_dim) return bad(sentence(config_error::vq_dim_range));
  const vq_config v{static_cast<std::uint32_t>(k), static_cast<std::uint8_t>(d)};
  if (const char* e = check(v); *e) return bad(e);
  return v;
}

/// Named configurations; they show up in test and benchmark names.
inline constexpr vq_config k256_d4{.codebook_size = 256, .subvector_dim = 4};
inline constexpr vq_config k256_d8{.codebook_size = 256, .subvector_dim = 8};
inline constexpr vq_config k256_d16{.codebook_size = 256, .subvector_dim = 16};
inline constexpr vq_config k16_d2{.codebook_size = 16, .subvector_dim = 2};
inline constexpr vq_config k16_d4{.codebook_size = 16, .subvector_dim = 4};
inline constexpr nm_pattern dense{};
inline constexpr nm_pattern sparse_1_4{.n = 1, .m = 4};
inline constexpr nm_pattern sparse_2_4{.n = 2, .m = 4};
inline constexpr nm_pattern sparse_2_8{.n = 2, .m = 8};

/// Compile-time face of a validated pair: a bad configuration is a compile error whose message is a sentence.
template <vq_config V, nm_pattern P = nm_pattern{}>  // clang 14 rejects a bare `= {}` here
struct vq_traits {
  static_assert(require_valid<diagnose(V, P)>);

  static constexpr vq_config config = V;
  static constexpr nm_pattern pattern = P;
  static constexpr unsigned bits_per_index = index_bits(V.codebook_size);
  static constexpr std::size_t kept_per_subvector = mvq::kept_per_subvector(V, P);
};

}  // namespace mvq::inline v0
