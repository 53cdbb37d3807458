#pragma once
/// @file
/// safetensors read/write (the format of huggingface/safetensors): an 8-byte little-endian header length N,
/// N bytes of JSON header `{"__metadata__": {string: string}, "<name>": {"dtype", "shape", "data_offsets"}}`,
/// then the data section, every tensor's raw little-endian bytes at [begin, end) relative to its start.
///
/// Reading validates the whole header before anything is allocated from it: the header length is bounded, the
/// JSON is well formed, every dtype known, every shape × dtype size equals its byte span (overflow checked),
/// the offsets tile the data section exactly (no gaps, no overlaps, nothing past the end, nothing left over)
/// and names are unique. A malformed file gives an `error` naming the file, the tensor and the problem.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mvq/core/error.hpp"
#include "mvq/io/detail/file.hpp"
#include "mvq/io/detail/json_text.hpp"
#include "mvq/io/detail/shape.hpp"
#include "mvq/io/dtype.hpp"

namespace mvq::inline v0::io {

/// Largest JSON header accepted, in bytes. The reference implementation (huggingface/safetensors, Rust crate,
/// `MAX_HEADER_SIZE`) uses the same 100 MB bound.
inline constexpr std::uint64_t safetensors_max_header = 100'000'000;

/// One tensor entry of a safetensors header.
struct tensor_info {
  std::string name;                    ///< tensor name (any UTF-8 string except "__metadata__")
  dtype type = dtype::f32;             ///< element type
  std::vector<std::uint64_t> shape;    ///< dimensions, outermost first; empty for a scalar
  std::uint64_t begin = 0, end = 0;    ///< data_offsets, relative to the start of the data section

  /// Product of the shape (1 for a scalar). Validated files never overflow it.
  [[nodiscard]] std::uint64_t elements() const noexcept {
    std::uint64_t n = 1;
    for (std::uint64_t d : shape) n *= d;
    return n;
  }
  /// end − begin.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return end - begin; }
};

/// How `safetensors_file::open` gets at the file's bytes.
enum class open_mode {
  /// Read-only POSIX mmap: a multi-GB file costs address space, not memory. As with any mapping, another
  /// process truncating the file while it is mapped makes later reads of the lost pages fault (SIGBUS).
  map,
  read,  ///< read the whole file into memory
};

namespace detail {

/// Reads a non-negative JSON integer.
[[nodiscard]] inline const std::uint64_t* json_unsigned(const nlohmann::json& j) noexcept {
  return j.get_ptr<const nlohmann::json::number_unsigned_t*>();
}

/// The parsed header of a safetensors file.
struct safetensors_header {
  std::uint64_t data_start = 0;  ///< 8 + header length
  std::map<std::string, std::string> metadata;
  std::vector<tensor_info> tensors;  ///< in data-offset order
};

/// Validates the complete file image `file` and returns its header. `name` is used in error messages.
[[nodiscard]] inline result<safetensors_header> parse_safetensors_header(std::span<const std::byte> file,
                                                                         const std::string& name) {
  using nlohmann::json;
  const std::uint64_t file_size = file.size();
  if (file_size < 8)
    return fail(errc::corrupt_file, name + ": file is " + std::to_string(file_size) +
                                        " bytes, too short for the 8-byte safetensors header length");
  const std::uint64_t n = load_le<std::uint64_t>(file.data());
  if (n > file_size - 8)
    return fail(errc::corrupt_file, name + ": header length " + std::to_string(n) + " exceeds the " +
                                        std::to_string(file_size - 8) + " bytes that follow it (truncated file?)");
  if (n > safetensors_max_header)
    return fail(errc::too_large, name + ": header length " + std::to_string(n) + " exceeds the limit of " +
                                     std::to_string(safetensors_max_header) + " bytes");
  const std::string_view text(reinterpret_cast<const char*>(file.data()) + 8, static_cast<std::size_t>(n));
  // The format nests at most three levels deep ({ "t": { "shape": [ ] } }); refuse more before parsing.
  if (detail::json_depth(text) > 3)
    return fail(errc::corrupt_file, name + ": header nests objects/arrays deeper than the format allows");

  // Duplicate keys: nlohmann keeps the last one silently, so count keys per object during the parse.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool duplicate_tensor = false;  // the duplicate is a top-level key (a tensor name)
  json::parser_callback_t on_event = [&](int, json::parse_event_t ev, json& value) {
    if (ev == json::parse_event_t::object_start) open_objects.emplace_back();
    else if (ev == json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    else if (ev == json::parse_event_t::key && !open_objects.empty() && duplicate.empty()) {
      if (const auto* k = value.get_ptr<const json::string_t*>(); k && !open_objects.back().insert(*k).second) {
        duplicate = *k;
        duplicate_tensor = open_objects.size() == 1;
      }
    }
    return true;
  };
  const json root = json::parse(text.begin(), text.end(), on_event, /*allow_exceptions=*/false);
  if (root.is_discarded())
    return fail(errc::corrupt_file, name + ": header is not valid JSON: " + detail::json_syntax_error(text));
  if (!duplicate.empty())
    return fail(errc::corrupt_file, name + (duplicate_tensor ? ": tensor name '" + duplicate + "' appears twice"
                                                             : ": header has the key '" + duplicate + "' twice"));
  if (!root.is_object()) return fail(errc::corrupt_file, name + ": header is not a JSON object");

  safetensors_header h;
  h.data_start = 8 + n;
  const std::uint64_t data_size = file_size - h.data_start;
  h.tensors.reserve(root.size());
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) return fail(errc::corrupt_file, name + ": __metadata__ is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        const auto* s = mv.get_ptr<const json::string_t*>();
        if (!s)
          return fail(errc::corrupt_file, name + ": __metadata__ value of key '" + mk + "' is not a string");
        h.metadata.emplace(mk, *s);
      }
      continue;
    }
    const std::string where = name + ": tensor '" + key + "': ";
    if (!value.is_object()) return fail(errc::corrupt_file, where + "entry is not a JSON object");
    tensor_info t;
    t.name = key;
    bool seen_dtype = false, seen_shape = false, seen_offsets = false;
    for (const auto& [field, v] : value.items()) {
      if (field == "dtype") {
        const auto* s = v.get_ptr<const json::string_t*>();
        if (!s) return fail(errc::corrupt_file, where + "dtype is not a string");
        const auto d = parse_dtype(*s);
        if (!d) return fail(errc::corrupt_file, where + "unknown dtype '" + *s + "'");
        t.type = *d;
        seen_dtype = true;
      } else if (field == "shape") {
        if (!v.is_array()) return fail(errc::corrupt_file, where + "shape is not an array");
        t.shape.reserve(v.size());
        for (const auto& dim : v) {
          const auto* u = json_unsigned(dim);
          if (!u)
            return fail(errc::corrupt_file, where + "shape entry " + std::to_string(t.shape.size()) + " (a " +
                                                dim.type_name() + ") is not a non-negative integer");
          t.shape.push_back(*u);
        }
        seen_shape = true;
      } else if (field == "data_offsets") {
        if (!v.is_array() || v.size() != 2)
          return fail(errc::corrupt_file, where + "data_offsets is not an array of two integers");
        const auto* b = json_unsigned(v[0]);
        const auto* e = json_unsigned(v[1]);
        if (!b || !e) return fail(errc::corrupt_file, where + "data_offsets entries are not non-negative integers");
        if (*e < *b)
          return fail(errc::corrupt_file, where + "data_offsets [" + std::to_string(*b) + ", " +
                                              std::to_string(*e) + "] end before they begin");
        t.begin = *b;
        t.end = *e;
        seen_offsets = true;
      } else {
        return fail(errc::corrupt_file, where + "unknown field '" + field + "'");
      }
    }
    if (!seen_dtype) return fail(errc::corrupt_file, where + "dtype is missing");
    if (!seen_shape) return fail(errc::corrupt_file, where + "shape is missing");
    if (!seen_offsets) return fail(errc::corrupt_file, where + "data_offsets is missing");
    const auto bytes = byte_size(t.shape, t.type);
    if (!bytes)
      return fail(errc::too_large, where + "shape " + shape_string(t.shape) + " of " +
                                       std::string(dtype_name(t.type)) + " overflows a 64-bit byte count");
    if (*bytes != t.bytes())
      return fail(errc::corrupt_file, where + "shape " + shape_string(t.shape) + " of " +
                                          std::string(dtype_name(t.type)) + " needs " + std::to_string(*bytes) +
                                          " bytes but data_offsets [" + std::to_string(t.begin) + ", " +
                                          std::to_string(t.end) + "] span " + std::to_string(t.bytes()));
    if (t.end > data_size)
      return fail(errc::corrupt_file, where + "data_offsets end " + std::to_string(t.end) +
                                          " lies past the end of the " + std::to_string(data_size) +
                                          "-byte data section (truncated file?)");
    h.tensors.push_back(std::move(t));
  }

  // The tensors must tile the data section: sorted by offset, each begins where the previous one ended.
  std::stable_sort(h.tensors.begin(), h.tensors.end(), [](const tensor_info& a, const tensor_info& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  const tensor_info* previous = nullptr;
  for (const tensor_info& t : h.tensors) {
    if (t.begin < expected)
      return fail(errc::corrupt_file, name + ": tensor '" + t.name + "': data_offsets [" + std::to_string(t.begin) +
                                          ", " + std::to_string(t.end) + "] overlap tensor '" + previous->name +
                                          "' [" + std::to_string(previous->begin) + ", " +
                                          std::to_string(previous->end) + "]");
    if (t.begin > expected)
      return fail(errc::corrupt_file, name + ": tensor '" + t.name + "': data_offsets begin " +
                                          std::to_string(t.begin) + " leaves a gap of " +
                                          std::to_string(t.begin - expected) + " bytes after offset " +
                                          std::to_string(expected));
    expected = t.end;
    previous = &t;
  }
  if (expected != data_size)
    return fail(errc::corrupt_file, name + ": the data section has " + std::to_string(data_size - expected) +
                                        " trailing bytes after offset " + std::to_string(expected) +
                                        " that belong to no tensor");
  return h;
}

}  // namespace detail

/// A validated safetensors file, memory-mapped or held in memory. Move-only; tensor data stays valid as long
/// as the object lives (moving it keeps the data where it is).
class safetensors_file {
public:
  // Moving transfers the buffer or the mapping, whose bytes stay where they are; the moved-from object is left
  // empty (no tensors, no bytes) rather than pointing into storage it no longer owns.
  safetensors_file(safetensors_file&& o) noexcept
      : name_(std::move(o.name_)),
        owned_(std::move(o.owned_)),
        map_(std::move(o.map_)),
        bytes_(std::exchange(o.bytes_, {})),
        data_start_(std::exchange(o.data_start_, 0)),
        metadata_(std::move(o.metadata_)),
        tensors_(std::move(o.tensors_)),
        by_name_(std::move(o.by_name_)) {
    o.clear();
  }
  safetensors_file& operator=(safetensors_file&& o) noexcept {
    if (this != &o) {
      name_ = std::move(o.name_);
      owned_ = std::move(o.owned_);
      map_ = std::move(o.map_);
      bytes_ = std::exchange(o.bytes_, {});
      data_start_ = std::exchange(o.data_start_, 0);
      metadata_ = std::move(o.metadata_);
      tensors_ = std::move(o.tensors_);
      by_name_ = std::move(o.by_name_);
      o.clear();
    }
    return *this;
  }
  safetensors_file(const safetensors_file&) = delete;
  safetensors_file& operator=(const safetensors_file&) = delete;
  ~safetensors_file() = default;

  /// Opens and validates `path`; `open_mode::map` (default) maps it read-only, `open_mode::read` copies it.
  [[nodiscard]] static result<safetensors_file> open(const std::filesystem::path& path,
                                                     open_mode mode = open_mode::map) {
    safetensors_file f(path.string());
    if (mode == open_mode::map) {
      auto m = detail::mapped_file::map(path);
      if (!m) return tl::unexpected(std::move(m.error()));
      f.map_ = std::move(*m);
      f.bytes_ = f.map_.bytes();
    } else {
      auto b = detail::read_file(path);
      if (!b) return tl::unexpected(std::move(b.error()));
      f.owned_ = std::move(*b);
      f.bytes_ = f.owned_;
    }
    if (auto r = f.validate(); !r) return tl::unexpected(std::move(r.error()));
    return f;
  }

  /// Validates a complete file image held in memory; `name` is used in error messages.
  [[nodiscard]] static result<safetensors_file> from_bytes(std::vector<std::byte> bytes,
                                                           std::string name = "<memory>") {
    safetensors_file f(std::move(name));
    f.owned_ = std::move(bytes);
    f.bytes_ = f.owned_;
    if (auto r = f.validate(); !r) return tl::unexpected(std::move(r.error()));
    return f;
  }

  /// The file name used in error messages.
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// The `__metadata__` map (empty when the file has none).
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  /// Every tensor, in data-offset order.
  [[nodiscard]] std::span<const tensor_info> tensors() const noexcept { return tensors_; }
  /// The tensor called `tensor_name`, or nullptr.
  [[nodiscard]] const tensor_info* find(std::string_view tensor_name) const noexcept {
    auto it = std::lower_bound(by_name_.begin(), by_name_.end(), tensor_name,
                               [&](std::size_t i, std::string_view n) { return tensors_[i].name < n; });
    if (it == by_name_.end() || tensors_[*it].name != tensor_name) return nullptr;
    return &tensors_[*it];
  }
  /// Raw little-endian bytes of a tensor of this file (may be unaligned; empty for a foreign `info` that does
  /// not fit the data section).
  [[nodiscard]] std::span<const std::byte> data(const tensor_info& info) const noexcept {
    const std::uint64_t data_size = bytes_.size() - data_start_;
    if (info.end < info.begin || info.end > data_size) return {};
    return bytes_.subspan(static_cast<std::size_t>(data_start_ + info.begin),
                          static_cast<std::size_t>(info.end - info.begin));
  }
  /// Offset of the data section from the start of the file (8 + header length).
  [[nodiscard]] std::uint64_t data_start() const noexcept { return data_start_; }
  /// The whole file image.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

  /// The tensor `tensor_name` converted to fp32 (any dtype; see `convert_to_f32`).
  [[nodiscard]] result<std::vector<float>> read_f32(std::string_view tensor_name) const {
    const tensor_info* t = find(tensor_name);
    if (!t) return fail(errc::not_found, name_ + ": no tensor named '" + std::string(tensor_name) + "'");
    // Validation bounded elements × size by the file size, so this allocation is as large as the data at most.
    std::vector<float> out(static_cast<std::size_t>(t->elements()));
    if (auto r = convert_to_f32(t->type, data(*t), out); !r)
      return fail(r.error().code, name_ + ": tensor '" + t->name + "': " + r.error().message);
    return out;
  }

private:
  explicit safetensors_file(std::string name) : name_(std::move(name)) {}

  void clear() noexcept {
    owned_.clear();
    metadata_.clear();
    tensors_.clear();
    by_name_.clear();
  }

  result<void> validate() {
    auto h = detail::parse_safetensors_header(bytes_, name_);
    if (!h) return tl::unexpected(std::move(h.error()));
    data_start_ = h->data_start;
    metadata_ = std::move(h->metadata);
    tensors_ = std::move(h->tensors);
    by_name_.resize(tensors_.size());
    for (std::size_t i = 0; i < by_name_.size(); ++i) by_name_[i] = i;
    std::sort(by_name_.begin(), by_name_.end(),
              [&](std::size_t a, std::size_t b) { return tensors_[a].name < tensors_[b].name; });
    return {};
  }

  std::string name_;
  std::vector<std::byte> owned_;   // read mode / from_bytes: the file image
  detail::mapped_file map_;        // map mode: the mapping
  std::span<const std::byte> bytes_;
  std::uint64_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<tensor_info> tensors_;
  std::vector<std::size_t> by_name_;  // indices into tensors_, sorted by name
};

/// Builds a safetensors file. Tensors are laid out by decreasing dtype size, then by name (byte order), as the
/// reference implementation does, so every tensor's data starts aligned to its element size in the 8-aligned
/// data section; the output is therefore independent of the order of `add` calls. The header lists
/// `__metadata__` first (keys sorted), then the tensors in layout order, and is padded with spaces to a multiple
/// of 8 bytes.
class safetensors_writer {
public:
  /// Sets (or replaces) a `__metadata__` entry. Keys and values must be valid UTF-8 (checked by `write`).
  void set_metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }

  /// Adds a tensor, copying `data` (raw little-endian elements). Errors: duplicate or reserved name, invalid
  /// UTF-8 name, or a byte count that differs from shape × dtype size.
  [[nodiscard]] result<void> add(std::string name, dtype type, std::vector<std::uint64_t> shape,
                                 std::span<const std::byte> data) {
    if (name == "__metadata__")
      return fail(errc::invalid_argument, "safetensors_writer: '__metadata__' is reserved and cannot name a tensor");
    if (!detail::is_utf8(name))
      return fail(errc::invalid_argument, "safetensors_writer: tensor name is not valid UTF-8");
    if (names_.count(name))
      return fail(errc::invalid_argument, "safetensors_writer: tensor '" + name + "' was added twice");
    const auto bytes = detail::byte_size(shape, type);
    if (!bytes)
      return fail(errc::too_large, "safetensors_writer: tensor '" + name + "': shape " +
                                       detail::shape_string(shape) + " overflows a 64-bit byte count");
    if (*bytes != data.size())
      return fail(errc::shape_mismatch, "safetensors_writer: tensor '" + name + "': shape " +
                                            detail::shape_string(shape) + " of " + std::string(dtype_name(type)) +
                                            " needs " + std::to_string(*bytes) + " bytes, got " +
                                            std::to_string(data.size()));
    names_.insert(name);
    entries_.push_back(entry{std::move(name), type, std::move(shape), {data.begin(), data.end()}});
    return {};
  }

  /// Adds an F32 tensor from host floats (stored little-endian).
  [[nodiscard]] result<void> add_f32(std::string name, std::vector<std::uint64_t> shape, std::span<const float> data) {
    std::vector<std::byte> raw(data.size() * 4);
    for (std::size_t i = 0; i < data.size(); ++i)
      detail::store_le<std::uint32_t>(raw.data() + 4 * i, std::bit_cast<std::uint32_t>(data[i]));
    return add(std::move(name), dtype::f32, std::move(shape), raw);
  }

  /// Number of tensors added so far.
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

  /// The complete file image.
  [[nodiscard]] result<std::vector<std::byte>> to_bytes() const {
    auto plan = layout();
    if (!plan) return tl::unexpected(std::move(plan.error()));
    std::vector<std::byte> out;
    out.reserve(static_cast<std::size_t>(plan->total));
    const auto* h = reinterpret_cast<const std::byte*>(plan->header.data());
    out.insert(out.end(), h, h + plan->header.size());
    for (std::size_t i : plan->order) out.insert(out.end(), entries_[i].data.begin(), entries_[i].data.end());
    return out;
  }

  /// Writes the file atomically: a temporary file in the same folder, fsync, rename over `path`. On failure the
  /// temporary file is removed and an existing `path` is left untouched.
  [[nodiscard]] result<void> write(const std::filesystem::path& path) const {
    auto plan = layout();
    if (!plan) return fail(plan.error().code, path.string() + ": " + plan.error().message);
    return detail::write_file_atomic(path, [&](detail::file_sink& sink) -> result<void> {
      if (auto r = sink.write({reinterpret_cast<const std::byte*>(plan->header.data()), plan->header.size()}); !r)
        return r;
      for (std::size_t i : plan->order)
        if (auto r = sink.write(entries_[i].data); !r) return r;
      return {};
    });
  }

private:
  struct entry {
    std::string name;
    dtype type;
    std::vector<std::uint64_t> shape;
    std::vector<std::byte> data;
  };
  struct file_plan {
    std::string header;  // 8-byte length + padded JSON
    std::vector<std::size_t> order;
    std::uint64_t total = 0;
  };

  [[nodiscard]] result<file_plan> layout() const {
    file_plan p;
    p.order.resize(entries_.size());
    for (std::size_t i = 0; i < p.order.size(); ++i) p.order[i] = i;
    std::sort(p.order.begin(), p.order.end(), [&](std::size_t a, std::size_t b) {
      const std::size_t sa = dtype_size(entries_[a].type), sb = dtype_size(entries_[b].type);
      return sa != sb ? sa > sb : entries_[a].name < entries_[b].name;
    });
    std::string json = "{";
    if (!metadata_.empty()) {
      json += "\"__metadata__\":{";
      bool first = true;
      for (const auto& [k, v] : metadata_) {
        if (!detail::is_utf8(k) || !detail::is_utf8(v))
          return fail(errc::invalid_argument, "safetensors_writer: __metadata__ key or value is not valid UTF-8");
        if (!first) json += ',';
        first = false;
        detail::append_json_string(json, k);
        json += ':';
        detail::append_json_string(json, v);
      }
      json += '}';
    }
    std::uint64_t offset = 0;
    for (std::size_t i : p.order) {
      const entry& e = entries_[i];
      if (json.size() > 1) json += ',';
      detail::append_json_string(json, e.name);
      json += ":{\"dtype\":\"";
      json += dtype_name(e.type);
      json += "\",\"shape\":[";
      for (std::size_t k = 0; k < e.shape.size(); ++k) {
        if (k) json += ',';
        json += std::to_string(e.shape[k]);
      }
      json += "],\"data_offsets\":[" + std::to_string(offset) + ',' + std::to_string(offset + e.data.size()) + "]}";
      offset += e.data.size();
    }
    json += '}';
    // Pad with spaces to a multiple of 8, like the reference serializer, so the data section is 8-aligned.
    json.append((8 - json.size() % 8) % 8, ' ');
    if (json.size() > safetensors_max_header)
      return fail(errc::too_large, "safetensors_writer: header of " + std::to_string(json.size()) +
                                       " bytes exceeds the limit of " + std::to_string(safetensors_max_header));
    p.header.resize(8);
    detail::store_le<std::uint64_t>(reinterpret_cast<std::byte*>(p.header.data()), json.size());
    p.header += json;
    p.total = p.header.size() + offset;
    return p;
  }

  std::map<std::string, std::string> metadata_;
  std::vector<entry> entries_;
  std::set<std::string, std::less<>> names_;
};

}  // namespace mvq::inline v0::io
