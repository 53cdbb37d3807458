#pragma once
/// @file
/// Calibration statistics (core/calibration.hpp) of several layers saved in one safetensors file, so that
/// accumulators filled by different processes or machines can be merged and a compression run can start from
/// them (`mvq compress --calib` also accepts this form; see docs/format.md).
///
/// Per layer `<name>`: `<name>.gram` F64 [cols, cols] (H), `<name>.column_sums` F64 [cols], `<name>.cross`
/// F64 [cols, cols] (paired only), and `__metadata__["mvq_calibration:<name>"]` = JSON {"rows": N, "cols": c,
/// "paired": bool}; plus `__metadata__["mvq_calibration"] = "1"`. All values are little-endian IEEE binary64,
/// so a file round-trips bit for bit.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mvq/core/calibration.hpp"
#include "mvq/core/error.hpp"
#include "mvq/io/dtype.hpp"
#include "mvq/io/safetensors.hpp"

namespace mvq::inline v0::io {

/// Metadata key marking a calibration-statistics file, and the prefix of its per-layer keys.
inline constexpr std::string_view calibration_format_key = "mvq_calibration";
inline constexpr std::string_view calibration_layer_key_prefix = "mvq_calibration:";

/// True when `f` is a calibration-statistics file (rather than raw calibration rows).
[[nodiscard]] inline bool is_calibration_file(safetensors_file const& f) {
  return f.metadata().count(std::string(calibration_format_key)) != 0;
}

namespace detail {
[[nodiscard]] inline std::vector<std::byte> f64_bytes(std::span<const double> v) {
  std::vector<std::byte> raw(v.size() * 8);
  for (std::size_t i = 0; i < v.size(); ++i) store_le<std::uint64_t>(raw.data() + 8 * i, std::bit_cast<std::uint64_t>(v[i]));
  return raw;
}

[[nodiscard]] inline result<std::vector<double>> read_f64(safetensors_file const& f, std::string const& name,
                                                          std::vector<std::uint64_t> const& shape) {
  auto const* t = f.find(name);
  if (!t) return fail(errc::corrupt_file, f.name() + ": calibration tensor '" + name + "' is missing");
  if (t->type != dtype::f64 || t->shape != shape) {
    std::string want;
    for (auto s : shape) want += (want.empty() ? "" : ", ") + std::to_string(s);
    return fail(errc::corrupt_file, f.name() + ": calibration tensor '" + name + "' must be F64 [" + want + "]");
  }
  auto bytes = f.data(*t);
  std::vector<double> out(bytes.size() / 8);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = std::bit_cast<double>(load_le<std::uint64_t>(bytes.data() + 8 * i));
  return out;
}
}  // namespace detail

/// Writes the named accumulators to `path` (atomically: an existing file is replaced only when the whole new
/// one is on disk). Refuses empty (never created) accumulators.
[[nodiscard]] inline result<void> save_calibration(std::filesystem::path const& path,
                                                   std::map<std::string, calibration> const& layers) {
  safetensors_writer w;
  w.set_metadata(std::string(calibration_format_key), "1");
  for (auto const& [name, c] : layers) {
    if (c.cols() == 0) return fail(errc::invalid_argument, "save_calibration: layer '" + name + "' is empty");
    const std::uint64_t n = c.cols();
    if (auto r = w.add(name + ".gram", dtype::f64, {n, n}, detail::f64_bytes(c.gram())); !r) return r;
    if (auto r = w.add(name + ".column_sums", dtype::f64, {n}, detail::f64_bytes(c.column_sums())); !r) return r;
    if (c.paired())
      if (auto r = w.add(name + ".cross", dtype::f64, {n, n}, detail::f64_bytes(c.cross())); !r) return r;
    nlohmann::json j{{"rows", c.rows()}, {"cols", n}, {"paired", c.paired()}};
    w.set_metadata(std::string(calibration_layer_key_prefix) + name, j.dump());
  }
  return w.write(path);
}

/// Reads every layer of a calibration-statistics file, validating shapes, dtypes and values.
[[nodiscard]] inline result<std::map<std::string, calibration>> load_calibration(safetensors_file const& f) {
  if (!is_calibration_file(f))
    return fail(errc::invalid_argument, f.name() + ": not a calibration-statistics file (no '" +
                                            std::string(calibration_format_key) + "' metadata)");
  std::map<std::string, calibration> out;
  for (auto const& [key, value] : f.metadata()) {
    if (!key.starts_with(calibration_layer_key_prefix)) continue;
    const std::string name = key.substr(calibration_layer_key_prefix.size());
    auto j = nlohmann::json::parse(value, nullptr, false);
    if (!j.is_object() || !j.contains("rows") || !j["rows"].is_number_unsigned() || !j.contains("cols") ||
        !j["cols"].is_number_unsigned() || !j.contains("paired") || !j["paired"].is_boolean())
      return fail(errc::corrupt_file, f.name() + ": metadata of calibration layer '" + name +
                                          "' must be {\"rows\": N, \"cols\": c, \"paired\": bool}");
    const std::uint64_t n = j["cols"].get<std::uint64_t>();
    if (n == 0 || n > calibration::max_cols)
      return fail(errc::corrupt_file, f.name() + ": calibration layer '" + name + "' has width " +
                                          std::to_string(n) + " (1 to " + std::to_string(calibration::max_cols) + ")");
    auto g = detail::read_f64(f, name + ".gram", {n, n});
    if (!g) return tl::unexpected(g.error());
    auto s = detail::read_f64(f, name + ".column_sums", {n});
    if (!s) return tl::unexpected(s.error());
    std::vector<double> cross;
    if (j["paired"].get<bool>()) {
      auto c = detail::read_f64(f, name + ".cross", {n, n});
      if (!c) return tl::unexpected(c.error());
      cross = std::move(*c);
    }
    auto c = calibration::from_parts(n, j["rows"].get<std::uint64_t>(), std::move(*g), std::move(*s), std::move(cross));
    if (!c) return fail(c.error().code, f.name() + ": layer '" + name + "': " + c.error().message);
    out.emplace(name, std::move(*c));
  }
  return out;
}

/// `load_calibration` of the file at `path`.
[[nodiscard]] inline result<std::map<std::string, calibration>> load_calibration(std::filesystem::path const& path) {
  auto f = safetensors_file::open(path);
  if (!f) return tl::unexpected(f.error());
  return load_calibration(*f);
}

}  // namespace mvq::inline v0::io
