#pragma once
/// @file
/// The `.mvq.safetensors` format, version 1 (specification: docs/format.md): a safetensors file that holds
/// compressed layers next to the tensors that stayed dense.
///
/// Per compressed layer `<name>`:
///   - `<name>.codebook`        [K, d]  F32, F16 or I8
///   - `<name>.codebook_scale`  [1]     F32, only for an I8 codebook (codeword value = q · scale)
///   - `<name>.indices`         [rows, index_bytes_per_row]  U8, per row an LSB-first stream of log2 K-bit indices
///   - `<name>.mask`            [rows, mask_bytes_per_row]   U8, only under N:M (M-bit bitmaps or pattern ranks)
///   - `__metadata__["mvq:<name>"]` a JSON string {"method", "k", "d", "n", "m", "shape", "layout", "index_bits",
///     "mask_encoding", "codebook_dtype"}
/// Per scalar-quantized layer `<name>` (GPTQ or round-to-nearest, quant/gptq.hpp):
///   - `<name>.codes`           [rows, code_bytes_per_row]  U8, per row an LSB-first stream of `bits`-bit codes
///   - `<name>.scales`          [rows, groups_per_row]      F32
///   - `<name>.zeros`           [rows, groups_per_row]      U8, only when affine
///   - `__metadata__["mvq:<name>"]` a JSON string {"kind": "scalar", "method", "bits", "group", "symmetric",
///     "shape", "layout"}
/// A layer entry without "kind" (every file written before scalar layers existed) is a VQ layer.
/// plus `__metadata__["mvq_format"] = "1"`. The packing of indices, masks and codes is exactly the in-memory
/// packing of `compressed_matrix` and `scalar_matrix` (core/), so reading maps the file and needs no re-packing.
///
/// A weight tensor of shape [O, I, s1, ..., sk] (k ≥ 0 spatial dims) becomes a rows × cols matrix with
/// rows = O and cols = I·s1·…·sk. The order of the cols is the tensor's `reduction_order`:
///   - `oihw`: I outer, spatial inner: column i·S + s (S = s1·…·sk, s the flattened spatial index); this is the
///     tensor's own row-major order (PQF, BGD and VQ4DiT cut sub-vectors this way);
///   - `ohwi`: spatial outer, I inner: column s·I + i (sub-vectors run across input channels at one tap).
/// For a 2-D tensor [out, in] both orders are the identity.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mvq/core/bitpack.hpp"
#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/float_formats.hpp"
#include "mvq/core/scalar_matrix.hpp"
#include "mvq/io/dtype.hpp"
#include "mvq/io/safetensors.hpp"

namespace mvq::inline v0::io {

/// Version string this header writes and reads in `__metadata__["mvq_format"]`.
inline constexpr std::string_view mvq_format_version = "1";
/// Metadata key of the format version.
inline constexpr std::string_view mvq_format_key = "mvq_format";
/// Prefix of the per-layer metadata keys (`"mvq:<name>"`).
inline constexpr std::string_view mvq_layer_key_prefix = "mvq:";

/// Parses "f32" / "f16" / "i8".
[[nodiscard]] constexpr std::optional<codebook_dtype> parse_codebook_dtype(std::string_view s) noexcept {
  if (s == "f32") return codebook_dtype::f32;
  if (s == "f16") return codebook_dtype::f16;
  if (s == "i8") return codebook_dtype::i8;
  return std::nullopt;
}

/// Parses "none" / "bitmap" / "pattern".
[[nodiscard]] constexpr std::optional<mask_encoding> parse_mask_encoding(std::string_view s) noexcept {
  if (s == "none") return mask_encoding::none;
  if (s == "bitmap") return mask_encoding::bitmap;
  if (s == "pattern") return mask_encoding::pattern;
  return std::nullopt;
}

/// The matrix shape (rows = shape[0], cols = product of the other dims) of a tensor with ≥ 2 dims, or an error
/// naming `what` when the shape has fewer dims or its element count overflows.
[[nodiscard]] inline result<std::pair<std::size_t, std::size_t>> matrix_shape(std::span<const std::uint64_t> shape,
                                                                            std::string_view what) {
  if (shape.size() < 2)
    return fail(errc::shape_mismatch, std::string(what) + ": a compressed layer needs at least 2 dims, the shape has " +
                                          std::to_string(shape.size()));
  // Keep rows · cols · 64 within size_t (compressed_layout's own overflow bound), checked before multiplying.
  constexpr std::uint64_t limit = std::numeric_limits<std::size_t>::max() / 64;
  std::uint64_t cols = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) {
    if (shape[i] != 0 && cols > limit / shape[i])
      return fail(errc::too_large, std::string(what) + ": the shape's element count overflows");
    cols *= shape[i];
  }
  if (shape[0] != 0 && cols != 0 && shape[0] > limit / cols)
    return fail(errc::too_large, std::string(what) + ": the shape's element count overflows");
  return std::pair{static_cast<std::size_t>(shape[0]), static_cast<std::size_t>(cols)};
}

namespace detail {
/// Shared body of the two tensor-shaped reorders: rows = shape[0], I = shape[1].
[[nodiscard]] inline std::vector<float> reorder_tensor(std::span<const float> in, std::span<const std::uint64_t> shape,
                                                       reduction_order from, reduction_order to) {
  std::vector<float> out(in.begin(), in.end());
  if (from == to || shape.size() < 3 || in.empty()) return out;
  const std::size_t rows = shape[0], cols = in.size() / rows;
  // The shape's element count equals in.size() (caller contract), so the reorder's own checks cannot fail.
  (void)reorder_columns(matrix_view<const float>(in.data(), rows, cols), shape[1], from, to,
                        matrix_view<float>(out.data(), rows, cols));
  return out;
}
}  // namespace detail

/// Reorders the columns of `in` (a tensor of `shape` [O, I, spatial...], row-major, i.e. `oihw`) into `order`
/// (core's `reorder_columns`). `in.size()` must equal the shape's element count. Also used for calibration rows,
/// whose columns follow the weight's oihw order: pass the shape [rows, I, spatial...].
[[nodiscard]] inline std::vector<float> to_reduction_order(std::span<const float> in,
                                                           std::span<const std::uint64_t> shape,
                                                           reduction_order order) {
  return detail::reorder_tensor(in, shape, reduction_order::oihw, order);
}

/// Inverse of `to_reduction_order`: columns in `order` back to the tensor's row-major (oihw) order.
[[nodiscard]] inline std::vector<float> from_reduction_order(std::span<const float> in,
                                                             std::span<const std::uint64_t> shape,
                                                             reduction_order order) {
  return detail::reorder_tensor(in, shape, order, reduction_order::oihw);
}

/// What the format records about a compressed layer besides its `compressed_layout` or `scalar_layout`.
struct mvq_layer_info {
  std::string name;                               ///< the original tensor name
  std::string method = "mvq";                     ///< VQ: "kmeans" (dense), "mvq" (N:M), "gptvq" or "vq4dit";
                                                  ///< scalar: "gptq" or "rtn" (round-to-nearest)
  std::vector<std::uint64_t> shape;               ///< the original tensor shape (≥ 2 dims)
};

/// The two kinds of compressed layer; a metadata entry names it in "kind" ("vq" when absent).
enum class layer_kind : std::uint8_t { vq, scalar };

namespace detail {

/// Names of the tensors that store layer `name`.
struct layer_tensor_names {
  std::string codebook, scale, indices, mask;
  explicit layer_tensor_names(std::string_view name)
      : codebook(std::string(name) + ".codebook"),
        scale(std::string(name) + ".codebook_scale"),
        indices(std::string(name) + ".indices"),
        mask(std::string(name) + ".mask") {}
};

/// Names of the tensors that store scalar layer `name`.
struct scalar_tensor_names {
  std::string codes, scales, zeros;
  explicit scalar_tensor_names(std::string_view name)
      : codes(std::string(name) + ".codes"), scales(std::string(name) + ".scales"), zeros(std::string(name) + ".zeros") {}
};

inline std::span<const std::byte> as_bytes_u8(std::span<const std::uint8_t> s) noexcept { return std::as_bytes(s); }

/// A little-endian fp32 value at `p`.
inline float load_f32_le(const std::byte* p) noexcept {
  auto u8 = [](std::byte b) { return std::to_integer<std::uint32_t>(b); };
  return std::bit_cast<float>(u8(p[0]) | u8(p[1]) << 8 | u8(p[2]) << 16 | u8(p[3]) << 24);
}

/// Checks a scalar layer's method: "gptq" or "rtn".
inline result<void> check_scalar_method(std::string_view method, std::string_view where) {
  if (method != "gptq" && method != "rtn")
    return fail(errc::invalid_argument,
                std::string(where) + ": method '" + std::string(method) + "' is not \"gptq\" or \"rtn\"");
  return {};
}

/// Typed field access of one layer's metadata object; every message begins with `where`.
struct metadata_fields {
  nlohmann::json const& j;
  std::string const& w;

  [[nodiscard]] result<std::uint64_t> uint_field(const char* key, std::uint64_t max, std::uint64_t min = 0) const {
    auto it = j.find(key);
    if (it == j.end()) return fail(errc::corrupt_file, w + ": the metadata has no \"" + key + "\"");
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > max || it->get<std::uint64_t>() < min)
      return fail(errc::corrupt_file, w + ": metadata \"" + key + "\" must be an integer in [" + std::to_string(min) +
                                          ", " + std::to_string(max) + "]");
    return it->get<std::uint64_t>();
  }
  [[nodiscard]] result<std::string> string_field(const char* key) const {
    auto it = j.find(key);
    if (it == j.end()) return fail(errc::corrupt_file, w + ": the metadata has no \"" + key + "\"");
    if (!it->is_string()) return fail(errc::corrupt_file, w + ": metadata \"" + key + "\" must be a string");
    return it->get<std::string>();
  }
  [[nodiscard]] result<bool> bool_field(const char* key) const {
    auto it = j.find(key);
    if (it == j.end()) return fail(errc::corrupt_file, w + ": the metadata has no \"" + key + "\"");
    if (!it->is_boolean()) return fail(errc::corrupt_file, w + ": metadata \"" + key + "\" must be true or false");
    return it->get<bool>();
  }
  /// "shape": positive integers, at least 2 of them, whose matrix shape does not overflow.
  [[nodiscard]] result<std::vector<std::uint64_t>> shape_field() const {
    auto sh = j.find("shape");
    if (sh == j.end() || !sh->is_array())
      return fail(errc::corrupt_file, w + ": metadata \"shape\" is missing or not an array");
    std::vector<std::uint64_t> shape;
    for (auto const& e : *sh) {
      if (!e.is_number_unsigned() || e.get<std::uint64_t>() == 0)
        return fail(errc::corrupt_file, w + ": metadata \"shape\" must hold positive integers");
      shape.push_back(e.get<std::uint64_t>());
    }
    return shape;
  }
  /// "layout": "oihw" or "ohwi".
  [[nodiscard]] result<reduction_order> order_field() const {
    auto layout = string_field("layout");
    if (!layout) return tl::unexpected(layout.error());
    auto order = parse_reduction_order(*layout);
    if (!order) return fail(errc::corrupt_file, w + ": layout '" + *layout + "' is not \"oihw\" or \"ohwi\"");
    return *order;
  }
};

/// Checks the method string of a VQ layer against its N:M pattern: "kmeans" is dense VQ, "mvq" is N:M + masked
/// k-means; "gptvq" and "vq4dit" (output-aware VQ) may be either.
inline result<void> check_method(std::string_view method, nm_pattern nm, std::string_view where) {
  if (method != "kmeans" && method != "mvq" && method != "gptvq" && method != "vq4dit")
    return fail(errc::invalid_argument, std::string(where) + ": method '" + std::string(method) +
                                            "' is not \"kmeans\", \"mvq\", \"gptvq\" or \"vq4dit\"");
  if ((method == "kmeans" && !nm.dense()) || (method == "mvq" && nm.dense()))
    return fail(errc::invalid_argument, std::string(where) + ": method \"" + std::string(method) +
                                            "\" needs " + (nm.dense() ? "an N:M pattern" : "a dense pattern (n = m = 0)") +
                                            ", got " + to_string(nm));
  return {};
}

}  // namespace detail

/// The JSON text of `__metadata__["mvq:<name>"]` for a layer.
[[nodiscard]] inline std::string layer_metadata_json(mvq_layer_info const& info, compressed_layout const& l) {
  nlohmann::ordered_json j;
  j["method"] = info.method;
  j["k"] = l.k();
  j["d"] = l.d();
  j["n"] = l.nm.n;
  j["m"] = l.nm.m;
  j["shape"] = info.shape;
  j["layout"] = std::string(to_string(l.order));
  j["index_bits"] = l.index_bits();
  j["mask_encoding"] = to_string(l.masks);
  j["codebook_dtype"] = to_string(l.codebook);
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

/// Parses and checks one layer's metadata JSON (everything that does not need the tensors). `where` prefixes
/// every message ("file: layer 'x'").
[[nodiscard]] inline result<std::pair<mvq_layer_info, compressed_layout>> parse_layer_metadata(
    std::string_view name, std::string_view text, std::string_view where) {
  const std::string w(where);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(errc::corrupt_file, w + ": the metadata entry is not a JSON object");
  const detail::metadata_fields fields{j, w};
  auto uint_field = [&](const char* key, std::uint64_t max) { return fields.uint_field(key, max); };
  auto string_field = [&](const char* key) { return fields.string_field(key); };
  mvq_layer_info info;
  info.name = std::string(name);
  compressed_layout l;
  auto method = string_field("method");
  if (!method) return tl::unexpected(method.error());
  info.method = *method;
  auto k = uint_field("k", max_codebook_size);
  if (!k) return tl::unexpected(k.error());
  auto d = uint_field("d", max_subvector_dim);
  if (!d) return tl::unexpected(d.error());
  auto n = uint_field("n", max_nm_group);
  if (!n) return tl::unexpected(n.error());
  auto m = uint_field("m", max_nm_group);
  if (!m) return tl::unexpected(m.error());
  auto ib = uint_field("index_bits", 32);
  if (!ib) return tl::unexpected(ib.error());
  // k ≤ 65536 and d ≤ 64 are bounded above, so the narrowing into vq_config is exact.
  l.vq = vq_config{static_cast<std::uint32_t>(*k), static_cast<std::uint8_t>(*d)};
  l.nm = nm_pattern{static_cast<std::uint8_t>(*n), static_cast<std::uint8_t>(*m)};
  if (const char* e = check(l.vq, l.nm); *e)
    return fail(errc::corrupt_file, w + ": k = " + std::to_string(l.k()) + ", d = " + std::to_string(l.d()) + ", " +
                                        to_string(l.nm) + ": " + e);
  if (*ib != l.index_bits())
    return fail(errc::corrupt_file, w + ": index_bits = " + std::to_string(*ib) + " but log2 k = " +
                                        std::to_string(l.index_bits()));
  if (auto r = detail::check_method(info.method, l.nm, w); !r) return fail(errc::corrupt_file, r.error().message);

  auto order = fields.order_field();
  if (!order) return tl::unexpected(order.error());
  l.order = *order;
  auto enc_s = string_field("mask_encoding");
  if (!enc_s) return tl::unexpected(enc_s.error());
  auto enc = parse_mask_encoding(*enc_s);
  if (!enc)
    return fail(errc::corrupt_file, w + ": mask_encoding '" + *enc_s + "' is not \"none\", \"bitmap\" or \"pattern\"");
  l.masks = *enc;
  if (l.nm.dense() != (l.masks == mask_encoding::none))
    return fail(errc::corrupt_file, w + ": mask_encoding \"" + *enc_s + "\" does not fit the pattern " +
                                        to_string(l.nm) + " (\"none\" exactly when n = m = 0)");
  auto cb_s = string_field("codebook_dtype");
  if (!cb_s) return tl::unexpected(cb_s.error());
  auto cb = parse_codebook_dtype(*cb_s);
  if (!cb) return fail(errc::corrupt_file, w + ": codebook_dtype '" + *cb_s + "' is not \"f32\", \"f16\" or \"i8\"");
  l.codebook = *cb;

  auto shape = fields.shape_field();
  if (!shape) return tl::unexpected(shape.error());
  info.shape = std::move(*shape);
  auto rc = matrix_shape(info.shape, w);
  if (!rc) return fail(errc::corrupt_file, rc.error().message);
  l.rows = rc->first;
  l.cols = rc->second;
  if (l.cols % l.d() != 0)
    return fail(errc::corrupt_file, w + ": the reduction length " + std::to_string(l.cols) + " of shape " +
                                        detail::shape_string(info.shape) + " is not a multiple of d = " +
                                        std::to_string(l.d()));
  if (!l.nm.dense() && l.cols % l.nm.m != 0)
    return fail(errc::corrupt_file, w + ": the reduction length " + std::to_string(l.cols) +
                                        " is not a multiple of M = " + std::to_string(l.nm.m));
  if (auto r = validate(l); !r) return fail(errc::corrupt_file, w + ": " + r.error().message);
  return std::pair{std::move(info), l};
}

/// The kind of the layer whose metadata JSON is `text`: "kind" absent or "vq" is VQ, "scalar" is scalar; anything
/// else, or text that is not a JSON object, is an error prefixed with `where`.
[[nodiscard]] inline result<layer_kind> parse_layer_kind(std::string_view text, std::string_view where) {
  const std::string w(where);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(errc::corrupt_file, w + ": the metadata entry is not a JSON object");
  auto it = j.find("kind");
  if (it == j.end()) return layer_kind::vq;
  if (it->is_string() && it->get<std::string>() == "vq") return layer_kind::vq;
  if (it->is_string() && it->get<std::string>() == "scalar") return layer_kind::scalar;
  return fail(errc::corrupt_file, w + ": metadata \"kind\" must be \"vq\" or \"scalar\", got " +
                                      it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

/// The JSON text of `__metadata__["mvq:<name>"]` for a scalar layer.
[[nodiscard]] inline std::string scalar_layer_metadata_json(mvq_layer_info const& info, scalar_layout const& l) {
  nlohmann::ordered_json j;
  j["kind"] = "scalar";
  j["method"] = info.method;
  j["bits"] = l.bits;
  j["group"] = l.group;
  j["symmetric"] = l.symmetric;
  j["shape"] = info.shape;
  j["layout"] = std::string(to_string(l.order));
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

/// Parses and checks one scalar layer's metadata JSON (everything that does not need the tensors): "kind" is
/// "scalar", the method "gptq" or "rtn", bits in 2…8, group 0 or a divisor of the reduction length.
[[nodiscard]] inline result<std::pair<mvq_layer_info, scalar_layout>> parse_scalar_layer_metadata(
    std::string_view name, std::string_view text, std::string_view where) {
  const std::string w(where);
  auto kind = parse_layer_kind(text, where);
  if (!kind) return tl::unexpected(kind.error());
  if (*kind != layer_kind::scalar) return fail(errc::corrupt_file, w + ": metadata \"kind\" is not \"scalar\"");
  auto j = nlohmann::json::parse(text, nullptr, false);
  const detail::metadata_fields fields{j, w};
  mvq_layer_info info;
  info.name = std::string(name);
  auto method = fields.string_field("method");
  if (!method) return tl::unexpected(method.error());
  info.method = *method;
  if (auto r = detail::check_scalar_method(info.method, w); !r) return fail(errc::corrupt_file, r.error().message);
  scalar_layout l;
  auto bits = fields.uint_field("bits", max_scalar_bits, min_scalar_bits);
  if (!bits) return tl::unexpected(bits.error());
  l.bits = static_cast<std::uint8_t>(*bits);  // ≤ 8
  auto group = fields.uint_field("group", std::numeric_limits<std::uint32_t>::max());
  if (!group) return tl::unexpected(group.error());
  l.group = static_cast<std::uint32_t>(*group);
  auto sym = fields.bool_field("symmetric");
  if (!sym) return tl::unexpected(sym.error());
  l.symmetric = *sym;
  auto order = fields.order_field();
  if (!order) return tl::unexpected(order.error());
  l.order = *order;
  auto shape = fields.shape_field();
  if (!shape) return tl::unexpected(shape.error());
  info.shape = std::move(*shape);
  auto rc = matrix_shape(info.shape, w);
  if (!rc) return fail(errc::corrupt_file, rc.error().message);
  l.rows = rc->first;
  l.cols = rc->second;
  if (auto r = validate(l); !r) return fail(errc::corrupt_file, w + ": " + r.error().message);
  return std::pair{std::move(info), l};
}

/// One scalar-quantized layer of an opened `.mvq.safetensors` file: the codes and zero points are views into the
/// file's bytes (no copy), the scales are decoded into owned fp32 values.
struct mvq_scalar_layer {
  mvq_layer_info info;
  scalar_layout layout;
  std::span<const std::uint8_t> codes;   ///< into the file
  std::vector<float> scales;             ///< rows × groups_per_row
  std::span<const std::uint8_t> zeros;   ///< into the file (empty when symmetric)

  /// The layer as the view every consumer takes.
  [[nodiscard]] scalar_matrix_view view() const noexcept { return {layout, codes, scales, zeros}; }
  /// An owning copy.
  [[nodiscard]] scalar_matrix to_matrix() const {
    return {layout, {codes.begin(), codes.end()}, scales, {zeros.begin(), zeros.end()}};
  }
  /// Dense fp32 weights in the original tensor's shape and (row-major) element order.
  [[nodiscard]] std::vector<float> decompress_dense() const {
    auto m = mvq::decompress(view());
    return from_reduction_order(m, info.shape, layout.order);
  }
};

/// One compressed layer of an opened `.mvq.safetensors` file: the indices and masks are views into the file's
/// bytes (no copy), the codebook is decoded into owned fp32 values (and int8 values for an I8 codebook).
struct mvq_layer {
  mvq_layer_info info;
  compressed_layout layout;
  std::vector<float> codebook;               ///< k·d effective fp32 values
  std::vector<std::int8_t> codebook_i8;      ///< k·d values for an I8 codebook, else empty
  float codebook_scale = 1.0f;               ///< 1 unless I8
  std::span<const std::uint8_t> indices;     ///< into the file
  std::span<const std::uint8_t> masks;       ///< into the file (empty when dense)

  /// The layer as the view every kernel takes.
  [[nodiscard]] compressed_matrix_view view() const noexcept {
    return {layout, codebook, codebook_i8, codebook_scale, indices, masks};
  }
  /// An owning copy.
  [[nodiscard]] compressed_matrix to_matrix() const {
    return {layout, codebook, codebook_i8, codebook_scale, {indices.begin(), indices.end()},
            {masks.begin(), masks.end()}};
  }
  /// Dense fp32 weights in the original tensor's shape and (row-major) element order.
  [[nodiscard]] std::vector<float> decompress_dense() const {
    auto m = mvq::decompress(view());
    return from_reduction_order(m, info.shape, layout.order);
  }
};

/// An opened, fully validated `.mvq.safetensors` file. Movable; the layers' views stay valid while it lives.
class mvq_file {
public:
  /// Opens and validates `path` (see `from_safetensors`).
  [[nodiscard]] static result<mvq_file> open(const std::filesystem::path& path, open_mode mode = open_mode::map) {
    auto f = safetensors_file::open(path, mode);
    if (!f) return tl::unexpected(f.error());
    return from_safetensors(std::move(*f));
  }

  /// Validates an opened safetensors file as `.mvq.safetensors` v1: the version key, every layer's metadata
  /// JSON, the presence, dtype and shape of every layer tensor, finite codebooks, int8 codebook range and scale,
  /// and the mask contents (`validate(compressed_matrix_view)`). Errors name the file, the layer and the problem.
  [[nodiscard]] static result<mvq_file> from_safetensors(safetensors_file file) {
    mvq_file out;
    out.file_ = std::make_unique<safetensors_file>(std::move(file));
    auto const& f = *out.file_;
    const std::string fname = f.name();
    auto const& md = f.metadata();
    auto ver = md.find(std::string(mvq_format_key));
    if (ver == md.end())
      return fail(errc::corrupt_file, fname + ": not a .mvq.safetensors file (no \"mvq_format\" metadata key)");
    if (ver->second != mvq_format_version)
      return fail(errc::unsupported, fname + ": .mvq.safetensors format version \"" + ver->second +
                                         "\" is not supported (this build reads version 1)");
    std::set<std::string> owned;  // tensor names that belong to a layer
    for (auto const& [key, value] : md) {
      if (!key.starts_with(mvq_layer_key_prefix)) continue;
      std::string name = key.substr(mvq_layer_key_prefix.size());
      auto kind = parse_layer_kind(value, fname + ": layer '" + name + "'");
      if (!kind) return tl::unexpected(kind.error());
      if (*kind == layer_kind::scalar) {
        auto layer = out.load_scalar_layer(name, value);
        if (!layer) return tl::unexpected(layer.error());
        detail::scalar_tensor_names tn(name);
        owned.insert({tn.codes, tn.scales, tn.zeros});
        out.scalar_layers_.push_back(std::move(*layer));
        continue;
      }
      auto layer = out.load_layer(name, value);
      if (!layer) return tl::unexpected(layer.error());
      detail::layer_tensor_names tn(name);
      owned.insert({tn.codebook, tn.scale, tn.indices, tn.mask});
      out.layers_.push_back(std::move(*layer));
    }
    // Layers in file order of their indices (codes) tensor, so readers see the original tensor order.
    std::sort(out.layers_.begin(), out.layers_.end(), [](mvq_layer const& a, mvq_layer const& b) {
      return a.indices.data() < b.indices.data();
    });
    std::sort(out.scalar_layers_.begin(), out.scalar_layers_.end(),
              [](mvq_scalar_layer const& a, mvq_scalar_layer const& b) { return a.codes.data() < b.codes.data(); });
    for (auto const& t : f.tensors())
      if (!owned.contains(t.name)) out.dense_.push_back(&t);
    return out;
  }

  /// The underlying safetensors file.
  [[nodiscard]] const safetensors_file& file() const noexcept { return *file_; }
  /// The VQ layers, in the file order of their tensors.
  [[nodiscard]] std::span<const mvq_layer> layers() const noexcept { return layers_; }
  /// The scalar-quantized layers, in the file order of their tensors.
  [[nodiscard]] std::span<const mvq_scalar_layer> scalar_layers() const noexcept { return scalar_layers_; }
  /// The VQ layer named `name`, or nullptr.
  [[nodiscard]] const mvq_layer* find(std::string_view name) const noexcept {
    for (auto const& l : layers_)
      if (l.info.name == name) return &l;
    return nullptr;
  }
  /// The scalar layer named `name`, or nullptr.
  [[nodiscard]] const mvq_scalar_layer* find_scalar(std::string_view name) const noexcept {
    for (auto const& l : scalar_layers_)
      if (l.info.name == name) return &l;
    return nullptr;
  }
  /// The dense fp32 weights of compressed layer `name` of either kind, in the original tensor's shape and
  /// element order; not_found when no layer has that name.
  [[nodiscard]] result<std::vector<float>> decompress_dense(std::string_view name) const {
    if (auto const* l = find(name)) return l->decompress_dense();
    if (auto const* l = find_scalar(name)) return l->decompress_dense();
    return fail(errc::not_found, file_->name() + ": no compressed layer '" + std::string(name) + "'");
  }
  /// Tensors that are not part of a compressed layer (stored unchanged), in file order.
  [[nodiscard]] std::span<const tensor_info* const> dense_tensors() const noexcept { return dense_; }
  /// The metadata without the format's own keys (`mvq_format`, `mvq:*`): what the input file carried.
  [[nodiscard]] std::map<std::string, std::string> user_metadata() const {
    std::map<std::string, std::string> out;
    for (auto const& [k, v] : file_->metadata())
      if (k != mvq_format_key && !k.starts_with(mvq_layer_key_prefix)) out.emplace(k, v);
    return out;
  }

private:
  mvq_file() = default;

  /// The bytes of layer tensor `tname`, which must exist with exactly this dtype and shape.
  result<std::span<const std::byte>> layer_tensor(std::string const& where, std::string const& tname, dtype want,
                                                  std::vector<std::uint64_t> const& shape) const {
    auto const& f = *file_;
    const tensor_info* t = f.find(tname);
    if (!t) return fail(errc::corrupt_file, where + ": tensor '" + tname + "' is missing");
    if (t->type != want)
      return fail(errc::corrupt_file, where + ": tensor '" + tname + "' has dtype " +
                                          std::string(dtype_name(t->type)) + ", expected " +
                                          std::string(dtype_name(want)));
    if (t->shape != shape)
      return fail(errc::corrupt_file, where + ": tensor '" + tname + "' has shape " +
                                          detail::shape_string(t->shape) + ", the metadata implies " +
                                          detail::shape_string(shape));
    auto bytes = f.data(*t);
    std::uint64_t n = 1;
    for (auto s : shape) n *= s;
    if (bytes.size() != n * dtype_size(want))
      return fail(errc::corrupt_file, where + ": tensor '" + tname + "' holds " + std::to_string(bytes.size()) +
                                          " bytes, its shape needs " + std::to_string(n * dtype_size(want)));
    return bytes;
  }
  /// An error when tensor `tname` is stored although the layer has no such part.
  result<void> layer_tensor_absent(std::string const& where, std::string const& tname, const char* why) const {
    if (file_->find(tname)) return fail(errc::corrupt_file, where + ": unexpected tensor '" + tname + "' (" + why + ")");
    return {};
  }

  result<mvq_scalar_layer> load_scalar_layer(std::string const& name, std::string const& json) const {
    auto const& f = *file_;
    const std::string where = f.name() + ": layer '" + name + "'";
    auto meta = parse_scalar_layer_metadata(name, json, where);
    if (!meta) return tl::unexpected(meta.error());
    mvq_scalar_layer L;
    L.info = std::move(meta->first);
    L.layout = meta->second;
    auto const& l = L.layout;
    detail::scalar_tensor_names tn(name);
    if (f.find(name))
      return fail(errc::corrupt_file, where + ": a dense tensor with the layer's own name is also stored");
    auto codes = layer_tensor(where, tn.codes, dtype::u8, {l.rows, l.code_bytes_per_row()});
    if (!codes) return tl::unexpected(codes.error());
    L.codes = {reinterpret_cast<const std::uint8_t*>(codes->data()), codes->size()};
    auto scales = layer_tensor(where, tn.scales, dtype::f32, {l.rows, l.groups_per_row()});
    if (!scales) return tl::unexpected(scales.error());
    L.scales.resize(l.groups());
    for (std::size_t i = 0; i < L.scales.size(); ++i) {
      L.scales[i] = detail::load_f32_le(scales->data() + 4 * i);
      if (!std::isfinite(L.scales[i]) || !(L.scales[i] > 0.0f))
        return fail(errc::corrupt_file, where + ": tensor '" + tn.scales + "' entry " + std::to_string(i) + " (row " +
                                            std::to_string(i / l.groups_per_row()) + ", group " +
                                            std::to_string(i % l.groups_per_row()) + ") is " +
                                            std::to_string(L.scales[i]) + ", not finite and positive");
    }
    if (!l.symmetric) {
      auto zeros = layer_tensor(where, tn.zeros, dtype::u8, {l.rows, l.groups_per_row()});
      if (!zeros) return tl::unexpected(zeros.error());
      L.zeros = {reinterpret_cast<const std::uint8_t*>(zeros->data()), zeros->size()};
      for (std::size_t i = 0; i < L.zeros.size(); ++i)
        if (L.zeros[i] > l.max_code())
          return fail(errc::corrupt_file, where + ": tensor '" + tn.zeros + "' entry " + std::to_string(i) +
                                              " is " + std::to_string(L.zeros[i]) + ", not below 2^bits = " +
                                              std::to_string(l.max_code() + 1));
    } else if (auto r = layer_tensor_absent(where, tn.zeros, "a symmetric layer has no zero points"); !r) {
      return tl::unexpected(r.error());
    }
    if (auto r = validate(L.view()); !r) return fail(errc::corrupt_file, where + ": " + r.error().message);
    return L;
  }

  result<mvq_layer> load_layer(std::string const& name, std::string const& json) const {
    auto const& f = *file_;
    const std::string where = f.name() + ": layer '" + name + "'";
    auto meta = parse_layer_metadata(name, json, where);
    if (!meta) return tl::unexpected(meta.error());
    mvq_layer L;
    L.info = std::move(meta->first);
    L.layout = meta->second;
    auto const& l = L.layout;
    detail::layer_tensor_names tn(name);
    if (f.find(name))
      return fail(errc::corrupt_file, where + ": a dense tensor with the layer's own name is also stored");

    auto tensor = [&](std::string const& tname, dtype want, std::vector<std::uint64_t> const& shape) {
      return layer_tensor(where, tname, want, shape);
    };
    auto absent = [&](std::string const& tname, const char* why) { return layer_tensor_absent(where, tname, why); };

    const std::size_t n_cb = std::size_t{l.k()} * l.d();
    const dtype cb_type = l.codebook == codebook_dtype::f32 ? dtype::f32
                          : l.codebook == codebook_dtype::f16 ? dtype::f16
                                                              : dtype::i8;
    auto cb = tensor(tn.codebook, cb_type, {l.k(), l.d()});
    if (!cb) return tl::unexpected(cb.error());
    L.codebook.resize(n_cb);
    auto u8 = [](std::byte b) { return std::to_integer<std::uint32_t>(b); };
    for (std::size_t i = 0; i < n_cb; ++i) {
      auto const* p = cb->data();
      switch (l.codebook) {
        case codebook_dtype::f32:
          L.codebook[i] = std::bit_cast<float>(u8(p[4 * i]) | u8(p[4 * i + 1]) << 8 | u8(p[4 * i + 2]) << 16 |
                                               u8(p[4 * i + 3]) << 24);
          break;
        case codebook_dtype::f16:
          L.codebook[i] = from_f16(static_cast<std::uint16_t>(u8(p[2 * i]) | u8(p[2 * i + 1]) << 8));
          break;
        case codebook_dtype::i8: L.codebook_i8.push_back(static_cast<std::int8_t>(u8(p[i]))); break;
      }
    }
    if (l.codebook == codebook_dtype::i8) {
      auto sc = tensor(tn.scale, dtype::f32, {1});
      if (!sc) return tl::unexpected(sc.error());
      auto const* p = sc->data();
      L.codebook_scale =
          std::bit_cast<float>(u8(p[0]) | u8(p[1]) << 8 | u8(p[2]) << 16 | u8(p[3]) << 24);
      if (!std::isfinite(L.codebook_scale) || !(L.codebook_scale > 0.0f))
        return fail(errc::corrupt_file, where + ": codebook_scale " + std::to_string(L.codebook_scale) +
                                            " is not finite and positive");
      for (std::size_t i = 0; i < n_cb; ++i) {
        if (L.codebook_i8[i] == -128)
          return fail(errc::corrupt_file, where + ": int8 codebook entry " + std::to_string(i) +
                                              " is -128; entries must lie in [-127, 127]");
        L.codebook[i] = static_cast<float>(L.codebook_i8[i]) * L.codebook_scale;
      }
    } else if (auto r = absent(tn.scale, "only an i8 codebook has a scale"); !r) {
      return tl::unexpected(r.error());
    }
    for (std::size_t i = 0; i < n_cb; ++i)
      if (!std::isfinite(L.codebook[i]))
        return fail(errc::corrupt_file, where + ": codebook entry " + std::to_string(i) + " is not finite");

    auto idx = tensor(tn.indices, dtype::u8, {l.rows, l.index_bytes_per_row()});
    if (!idx) return tl::unexpected(idx.error());
    // U8 data has no alignment requirement and unsigned char may alias any byte.
    L.indices = {reinterpret_cast<const std::uint8_t*>(idx->data()), idx->size()};
    if (!l.nm.dense()) {
      auto msk = tensor(tn.mask, dtype::u8, {l.rows, l.mask_bytes_per_row()});
      if (!msk) return tl::unexpected(msk.error());
      L.masks = {reinterpret_cast<const std::uint8_t*>(msk->data()), msk->size()};
    } else if (auto r = absent(tn.mask, "the layer is dense"); !r) {
      return tl::unexpected(r.error());
    }
    if (auto r = validate(L.view()); !r) return fail(errc::corrupt_file, where + ": " + r.error().message);
    return L;
  }

  std::unique_ptr<safetensors_file> file_;  // heap-held so the layers' spans survive moves of mvq_file
  std::vector<mvq_layer> layers_;
  std::vector<mvq_scalar_layer> scalar_layers_;
  std::vector<const tensor_info*> dense_;
};

/// Builds a `.mvq.safetensors` file: compressed layers, dense tensors copied unchanged, and metadata; nothing
/// touches the disk before `write`, which writes a temporary file and renames it.
class mvq_writer {
public:
  /// An empty file: only `mvq_format = "1"` in the metadata.
  mvq_writer() { out_.set_metadata(std::string(mvq_format_key), std::string(mvq_format_version)); }

  /// Copies a metadata entry of the input through. The format's own keys (`mvq_format`, `mvq:*`) are reserved.
  [[nodiscard]] result<void> set_metadata(std::string key, std::string value) {
    if (key == mvq_format_key || key.starts_with(mvq_layer_key_prefix))
      return fail(errc::invalid_argument, "metadata key '" + key +
                                              "' is reserved by the .mvq.safetensors format (is the input already compressed?)");
    out_.set_metadata(std::move(key), std::move(value));
    return {};
  }

  /// Adds compressed layer `info.name`. `m` must be valid (`validate(m)`), its rows × cols must match the
  /// shape, and the method must fit the pattern ("mvq" exactly when N:M).
  [[nodiscard]] result<void> add_layer(mvq_layer_info const& info, compressed_matrix_view const& m) {
    const std::string where = "layer '" + info.name + "'";
    if (auto r = validate(m); !r) return fail(r.error().code, where + ": " + r.error().message);
    if (auto r = detail::check_method(info.method, m.layout.nm, where); !r) return r;
    auto rc = matrix_shape(info.shape, where);
    if (!rc) return tl::unexpected(rc.error());
    if (rc->first != m.layout.rows || rc->second != m.layout.cols)
      return fail(errc::shape_mismatch, where + ": shape " + detail::shape_string(info.shape) + " is " +
                                            std::to_string(rc->first) + " × " + std::to_string(rc->second) +
                                            ", the compressed matrix is " + std::to_string(m.layout.rows) + " × " +
                                            std::to_string(m.layout.cols));
    if (rc->first == 0 || rc->second == 0) return fail(errc::shape_mismatch, where + ": the shape has no elements");
    auto const& l = m.layout;
    detail::layer_tensor_names tn(info.name);
    // All four names are reserved even when a tensor is absent: the reader rejects a stray one.
    if (auto r = reserve({info.name, tn.codebook, tn.scale, tn.indices, tn.mask}); !r) return r;

    const std::size_t n_cb = std::size_t{l.k()} * l.d();
    std::vector<std::byte> cb;
    switch (l.codebook) {
      case codebook_dtype::f32:
        cb.resize(n_cb * 4);
        for (std::size_t i = 0; i < n_cb; ++i) put_le(cb, i, 4, std::bit_cast<std::uint32_t>(m.codebook[i]));
        break;
      case codebook_dtype::f16:
        cb.resize(n_cb * 2);
        for (std::size_t i = 0; i < n_cb; ++i) {
          // The fp32 codebook holds values already rounded to f16, so this conversion is exact.
          put_le(cb, i, 2, to_f16(m.codebook[i]));
        }
        break;
      case codebook_dtype::i8:
        cb.resize(n_cb);
        for (std::size_t i = 0; i < n_cb; ++i) cb[i] = static_cast<std::byte>(m.codebook_i8[i]);
        break;
    }
    const dtype cb_type = l.codebook == codebook_dtype::f32 ? dtype::f32
                          : l.codebook == codebook_dtype::f16 ? dtype::f16
                                                              : dtype::i8;
    if (auto r = out_.add(tn.codebook, cb_type, {l.k(), l.d()}, cb); !r) return r;
    if (l.codebook == codebook_dtype::i8) {
      const float s = m.codebook_scale;
      if (auto r = out_.add_f32(tn.scale, {1}, std::span<const float>(&s, 1)); !r) return r;
    }
    if (auto r = out_.add(tn.indices, dtype::u8, {l.rows, l.index_bytes_per_row()}, detail::as_bytes_u8(m.indices));
        !r)
      return r;
    if (!l.nm.dense())
      if (auto r = out_.add(tn.mask, dtype::u8, {l.rows, l.mask_bytes_per_row()}, detail::as_bytes_u8(m.masks)); !r)
        return r;
    out_.set_metadata(std::string(mvq_layer_key_prefix) + info.name, layer_metadata_json(info, l));
    return {};
  }

  /// Adds scalar-quantized layer `info.name`. `m` must be valid (`validate(m)`), its rows × cols must match the
  /// shape, and the method must be "gptq" or "rtn".
  [[nodiscard]] result<void> add_scalar_layer(mvq_layer_info const& info, scalar_matrix_view const& m) {
    const std::string where = "layer '" + info.name + "'";
    if (auto r = validate(m); !r) return fail(r.error().code, where + ": " + r.error().message);
    if (auto r = detail::check_scalar_method(info.method, where); !r) return r;
    auto rc = matrix_shape(info.shape, where);
    if (!rc) return tl::unexpected(rc.error());
    if (rc->first != m.layout.rows || rc->second != m.layout.cols)
      return fail(errc::shape_mismatch, where + ": shape " + detail::shape_string(info.shape) + " is " +
                                            std::to_string(rc->first) + " × " + std::to_string(rc->second) +
                                            ", the scalar matrix is " + std::to_string(m.layout.rows) + " × " +
                                            std::to_string(m.layout.cols));
    if (rc->first == 0 || rc->second == 0) return fail(errc::shape_mismatch, where + ": the shape has no elements");
    auto const& l = m.layout;
    detail::scalar_tensor_names tn(info.name);
    // All names are reserved even when a tensor is absent: the reader rejects a stray one.
    if (auto r = reserve({info.name, tn.codes, tn.scales, tn.zeros}); !r) return r;
    if (auto r = out_.add(tn.codes, dtype::u8, {l.rows, l.code_bytes_per_row()}, detail::as_bytes_u8(m.codes)); !r)
      return r;
    if (auto r = out_.add_f32(tn.scales, {l.rows, l.groups_per_row()}, m.scales); !r) return r;
    if (!l.symmetric)
      if (auto r = out_.add(tn.zeros, dtype::u8, {l.rows, l.groups_per_row()}, detail::as_bytes_u8(m.zeros)); !r)
        return r;
    out_.set_metadata(std::string(mvq_layer_key_prefix) + info.name, scalar_layer_metadata_json(info, l));
    return {};
  }

  /// Adds a tensor that stays as it is (copied byte for byte).
  [[nodiscard]] result<void> add_tensor(std::string name, dtype type, std::vector<std::uint64_t> shape,
                                        std::span<const std::byte> data) {
    if (auto r = reserve({name}); !r) return r;
    return out_.add(std::move(name), type, std::move(shape), data);
  }

  /// Writes the file atomically (temporary file in the same folder, then rename).
  [[nodiscard]] result<void> write(const std::filesystem::path& path) const { return out_.write(path); }

  /// The complete file image, for callers that keep it in memory.
  [[nodiscard]] result<std::vector<std::byte>> to_bytes() const { return out_.to_bytes(); }

private:
  static void put_le(std::vector<std::byte>& out, std::size_t i, unsigned bytes, std::uint32_t v) {
    for (unsigned b = 0; b < bytes; ++b) out[i * bytes + b] = static_cast<std::byte>((v >> (8 * b)) & 0xffu);
  }
  result<void> reserve(std::vector<std::string> const& names) {
    for (auto const& n : names)
      if (names_.contains(n))
        return fail(errc::invalid_argument, "tensor name '" + n + "' is used twice (a dense tensor and a compressed "
                                            "layer's tensor, or two layers)");
    names_.insert(names.begin(), names.end());
    return {};
  }

  safetensors_writer out_;
  std::set<std::string> names_;
};

}  // namespace mvq::inline v0::io
