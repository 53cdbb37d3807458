#pragma once
// Loading and printing the tensor list of a safetensors or .npy file, shared by `mvq inspect`, `mvq demo` and
// any sub-command that shows what a file holds. The format is detected from the content, not the extension.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mvq/core/error.hpp"
#include "mvq/io/detail/file.hpp"
#include "mvq/io/npy.hpp"
#include "mvq/io/safetensors.hpp"

namespace mvq_cli {

/// What a tensor file holds: its format, metadata and tensor table.
struct tensor_listing {
  std::string file;                              ///< the path as given
  std::string format;                            ///< "safetensors" or "npy <major>.0"
  std::map<std::string, std::string> metadata;   ///< safetensors __metadata__; for .npy its version and order
  std::vector<mvq::io::tensor_info> tensors;     ///< in data-offset order
};

/// True when `bytes` starts with the .npy magic "\x93NUMPY".
inline bool looks_like_npy(std::span<const std::byte> bytes) {
  return bytes.size() >= 6 && std::equal(std::begin(mvq::io::detail::npy_magic), std::end(mvq::io::detail::npy_magic),
                                         bytes.begin(), [](unsigned char m, std::byte b) {
                                           return std::to_integer<unsigned char>(b) == m;
                                         });
}

/// Reads and validates `path` as .npy (when it starts with the NumPy magic) or safetensors (otherwise). A .npy
/// file becomes one tensor named after the file (its stem), with data_offsets [0, bytes).
inline mvq::result<tensor_listing> load_listing(const std::filesystem::path& path) {
  namespace io = mvq::io;
  auto map = io::detail::mapped_file::map(path);
  if (!map) return tl::unexpected(map.error());
  tensor_listing out;
  out.file = path.string();
  if (looks_like_npy(map->bytes())) {
    auto a = io::parse_npy(map->bytes(), out.file);
    if (!a) return tl::unexpected(a.error());
    const unsigned major = std::to_integer<unsigned>(map->bytes()[6]);
    out.format = "npy " + std::to_string(major) + ".0";
    out.metadata["npy_version"] = std::to_string(major) + ".0";
    out.metadata["fortran_order"] = a->fortran_order ? "True" : "False";
    out.tensors.push_back(io::tensor_info{path.stem().string(), a->type, a->shape, 0, a->data.size()});
    return out;
  }
  *map = io::detail::mapped_file();  // the safetensors reader maps the file itself
  auto st = io::safetensors_file::open(path, io::open_mode::map);
  if (!st) return tl::unexpected(st.error());
  out.format = "safetensors";
  out.metadata = st->metadata();
  out.tensors.assign(st->tensors().begin(), st->tensors().end());
  return out;
}

/// "1.2 MiB" style size.
inline std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

/// Prints the table (name, dtype, shape, bytes), a total line and the metadata.
inline void print_listing(std::FILE* out, const tensor_listing& l) {
  std::size_t wn = 4, wd = 5, ws = 5;
  for (const auto& t : l.tensors) {
    wn = std::max(wn, t.name.size());
    wd = std::max(wd, mvq::io::dtype_name(t.type).size());
    ws = std::max(ws, mvq::io::detail::shape_string(t.shape).size());
  }
  std::fprintf(out, "%s: %s, %zu tensor%s\n", l.file.c_str(), l.format.c_str(), l.tensors.size(),
               l.tensors.size() == 1 ? "" : "s");
  std::fprintf(out, "  %-*s  %-*s  %-*s  %12s\n", static_cast<int>(wn), "name", static_cast<int>(wd), "dtype",
               static_cast<int>(ws), "shape", "bytes");
  std::uint64_t total_bytes = 0, total_elements = 0;
  for (const auto& t : l.tensors) {
    std::fprintf(out, "  %-*s  %-*s  %-*s  %12llu\n", static_cast<int>(wn), t.name.c_str(), static_cast<int>(wd),
                 std::string(mvq::io::dtype_name(t.type)).c_str(), static_cast<int>(ws),
                 mvq::io::detail::shape_string(t.shape).c_str(), static_cast<unsigned long long>(t.bytes()));
    total_bytes += t.bytes();
    total_elements += t.elements();
  }
  std::fprintf(out, "  total: %llu elements, %llu bytes (%s)\n", static_cast<unsigned long long>(total_elements),
               static_cast<unsigned long long>(total_bytes), human_bytes(total_bytes).c_str());
  if (!l.metadata.empty()) {
    std::fprintf(out, "metadata (%zu):\n", l.metadata.size());
    for (const auto& [k, v] : l.metadata) std::fprintf(out, "  %s = %s\n", k.c_str(), v.c_str());
  }
}

/// `{"file": ..., "metadata": {...}, "tensors": [{"name", "dtype", "shape", "data_offsets"}]}`, keys in this order.
inline nlohmann::ordered_json listing_json(const tensor_listing& l) {
  nlohmann::ordered_json j;
  j["file"] = l.file;
  j["metadata"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : l.metadata) j["metadata"][k] = v;
  j["tensors"] = nlohmann::ordered_json::array();
  for (const auto& t : l.tensors) {
    nlohmann::ordered_json e;
    e["name"] = t.name;
    e["dtype"] = std::string(mvq::io::dtype_name(t.type));
    e["shape"] = t.shape;
    e["data_offsets"] = {t.begin, t.end};
    j["tensors"].push_back(std::move(e));
  }
  return j;
}

/// The JSON text of a listing: the structure of `listing_json`, laid out with one metadata entry and one tensor
/// per line. Bytes that are not UTF-8 (possible in file names) become U+FFFD.
inline std::string listing_json_text(const tensor_listing& l) {
  const auto j = listing_json(l);
  auto compact = [](const nlohmann::ordered_json& v) {
    std::string s = v.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    // nlohmann's compact form has no space after ':' and ','; add them outside strings for readability.
    std::string out;
    bool in_string = false, escaped = false;
    for (char c : s) {
      out.push_back(c);
      if (in_string) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == ':' || c == ',') {
        out.push_back(' ');
      }
    }
    return out;
  };
  std::string out = "{\n  \"file\": " + compact(j["file"]) + ",\n  \"metadata\": {";
  bool first = true;
  for (const auto& [k, v] : j["metadata"].items()) {
    out += first ? "\n    " : ",\n    ";
    first = false;
    out += compact(nlohmann::ordered_json(k)) + ": " + compact(v);
  }
  out += first ? "},\n  \"tensors\": [" : "\n  },\n  \"tensors\": [";
  first = true;
  for (const auto& t : j["tensors"]) {
    out += first ? "\n    " : ",\n    ";
    first = false;
    out += compact(t);
  }
  out += first ? "]\n}" : "\n  ]\n}";
  return out;
}

}  // namespace mvq_cli
