// `mvq compress`: k-means VQ or MVQ (N:M pruning + masked k-means) of every eligible weight tensor of a
// safetensors file, written as `.mvq.safetensors` (docs/format.md).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "mvq/core/compressed_matrix.hpp"
#include "mvq/io/mvq_format.hpp"
#include "mvq/io/safetensors.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/subvectors.hpp"

namespace {

using mvq::errc;
using mvq::fail;
using mvq::result;

struct compress_args {
  std::string in, out, method = "mvq", nm, mask_encoding = "pattern", calib, keep, only, codebook = "f32",
                       layout = "oihw";
  std::uint32_t k = 256, d = 8;
  std::uint64_t min_size = 4096, seed = 0;
  unsigned threads = 1;
  bool json = false;
};

// Why a tensor stays dense; empty when it is compressed.
struct decision {
  std::string reason;
  [[nodiscard]] bool compress() const { return reason.empty(); }
};

// The per-tensor JSON description some exporters store under the tensor's own name in __metadata__
// (e.g. {"op": "Conv", "group": 1, ...}); discarded when absent or not an object.
nlohmann::json tensor_metadata(mvq::io::safetensors_file const& f, std::string const& name) {
  auto it = f.metadata().find(name);
  if (it == f.metadata().end()) return nlohmann::json(nlohmann::json::value_t::discarded);
  auto j = nlohmann::json::parse(it->second, nullptr, false);
  if (!j.is_object()) return nlohmann::json(nlohmann::json::value_t::discarded);
  return j;
}

std::string shape_str(std::span<const std::uint64_t> s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The eligibility rules of `mvq compress` (documented in its --help and docs/format.md). `structural` is the part
// that explicit selection (--only) cannot override: with --only, a structural reason is an error.
decision classify(mvq::io::safetensors_file const& f, mvq::io::tensor_info const& t, compress_args const& a,
                  mvq::nm_pattern nm, bool& structural) {
  structural = true;
  if (t.shape.size() < 2) return {"fewer than 2 dims (no output-channel × reduction layout)"};
  if (!mvq::io::is_floating(t.type)) return {"dtype " + std::string(mvq::io::dtype_name(t.type)) + " is not a float"};
  auto md = tensor_metadata(f, t.name);
  bool transpose = lower(t.name).find("convtranspose") != std::string::npos ||
                   lower(t.name).find("conv_transpose") != std::string::npos;
  if (md.is_object()) {
    auto op = md.find("op");
    if (op != md.end() && op->is_string()) transpose = op->get<std::string>() == "ConvTranspose";
  }
  // ConvTranspose weights are IOHW ([C_in, C_out/group, kh, kw]): rows would be input channels.
  if (transpose) return {"ConvTranspose weight (IOHW) is kept dense"};
  std::optional<std::uint64_t> group;
  if (md.is_object() && md.contains("group")) {
    auto g = md["group"];
    if (g.is_number_unsigned()) group = g.get<std::uint64_t>();
  }
  // The library's classifier decides the kind; the CLI only words the reason.
  const auto li = mvq::quant::classify_layer(t.shape, group, transpose);
  if (!mvq::quant::compressed_by_default(li.kind)) {
    if (group && *group > 1)
      return {std::string(mvq::quant::to_string(li.kind)) + " (group = " + std::to_string(*group) + ") is kept dense"};
    return {std::string(mvq::quant::to_string(li.kind)) + " shape " + shape_str(t.shape) + " (no group metadata) is kept dense"};
  }
  std::uint64_t cols = 1;
  for (std::size_t i = 1; i < t.shape.size(); ++i) cols *= t.shape[i];
  if (cols % a.d != 0)
    return {"reduction length " + std::to_string(cols) + " is not a multiple of d = " + std::to_string(a.d)};
  if (!nm.dense() && cols % nm.m != 0)
    return {"reduction length " + std::to_string(cols) + " is not a multiple of M = " + std::to_string(nm.m)};
  structural = false;
  if (!a.keep.empty() && std::regex_search(t.name, std::regex(a.keep))) return {"matches --keep"};
  if (a.only.empty() && t.elements() < a.min_size)
    return {std::to_string(t.elements()) + " weights < --min-size " + std::to_string(a.min_size)};
  if (!a.only.empty() && !std::regex_search(t.name, std::regex(a.only))) return {"does not match --only"};
  return {};
}

struct layer_result {
  std::string name;
  mvq::io::mvq_layer_info info;
  mvq::compressed_matrix matrix;
  mvq::quant::layer_stats stats;
  std::uint64_t n_weights = 0, bits = 0, input_bits = 0;
  double seconds = 0;
};

// 10·log10(num/den), or nothing when that is not finite (den = 0: exact).
std::optional<double> db(double num, double den) {
  double v = 10.0 * std::log10(num / den);
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

nlohmann::ordered_json json_db(std::optional<double> v) { return v ? nlohmann::ordered_json(*v) : nullptr; }

std::string fmt_db(std::optional<double> v, bool available) {
  if (!available) return "-";
  if (!v) return "exact";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", *v);
  return b;
}

result<mvq::nm_pattern> parse_nm(std::string const& s) {
  auto p = mvq::parse_nm_pattern(s);
  if (!p) return fail(errc::invalid_argument, "--nm: " + p.error().message);
  if (p->dense()) return fail(errc::invalid_argument, "--nm 0:0 is dense: use --method kmeans");
  return p;
}

int run(compress_args a) {
  namespace io = mvq::io;
  namespace quant = mvq::quant;
  // ---- options
  for (auto const* re : {&a.keep, &a.only}) {
    try {
      if (!re->empty()) (void)std::regex(*re);
    } catch (const std::regex_error& e) {
      return mvq_cli::report({errc::invalid_argument, "invalid regular expression '" + *re + "': " + e.what()});
    }
  }
  quant::compress_options opt;
  opt.method = a.method == "kmeans" ? quant::method::kmeans : quant::method::mvq;
  opt.seed = a.seed;
  opt.threads = std::max(1u, a.threads);
  opt.codebook = *io::parse_codebook_dtype(a.codebook);
  if (opt.method == quant::method::mvq) {
    auto nm = parse_nm(a.nm.empty() ? std::string("2:4") : a.nm);
    if (!nm) return mvq_cli::report(nm.error());
    opt.nm = *nm;
    opt.masks = *io::parse_mask_encoding(a.mask_encoding);
  } else {
    if (!a.nm.empty())
      return mvq_cli::report({errc::invalid_argument, "--nm needs --method mvq (kmeans is plain, dense VQ)"});
    opt.nm = {};
    opt.masks = mvq::mask_encoding::none;
  }
  // d is checked before it is narrowed into vq_config's 8-bit field; the sentences are core's.
  if (a.d == 0 || a.d > mvq::max_subvector_dim)
    return mvq_cli::report(
        {errc::unsupported, "--d " + std::to_string(a.d) + ": " + mvq::sentence(mvq::config_error::vq_dim_range)});
  opt.vq = {a.k, static_cast<std::uint8_t>(a.d)};
  if (const char* e = mvq::check(opt.vq); *e)
    return mvq_cli::report({errc::invalid_argument, "--k " + std::to_string(a.k) + ": " + e});
  if (const char* e = mvq::check(opt.vq, opt.nm); *e)
    return mvq_cli::report(
        {errc::unsupported, "--d " + std::to_string(a.d) + " with --nm " + mvq::to_string(opt.nm) + ": " + e});
  const auto order = *mvq::parse_reduction_order(a.layout);
  // An unsupported d or N:M fails here, before any file is read.
  if (auto r = quant::validate(opt, 1, a.d, 0, 0); !r)
    return mvq_cli::report({r.error().code, "--method " + a.method + " --d " + std::to_string(a.d) +
                                                (opt.nm.dense() ? "" : " --nm " + mvq::to_string(opt.nm)) + ": " +
                                                r.error().message});

  // ---- inputs
  auto in = io::safetensors_file::open(a.in);
  if (!in) return mvq_cli::report(in.error());
  std::optional<io::safetensors_file> calib;
  if (!a.calib.empty()) {
    auto c = io::safetensors_file::open(a.calib);
    if (!c) return mvq_cli::report(c.error());
    calib = std::move(*c);
  }
  for (auto const& [key, value] : in->metadata())
    if (key == io::mvq_format_key || key.starts_with(io::mvq_layer_key_prefix))
      return mvq_cli::report({errc::invalid_argument, a.in + ": metadata key '" + key +
                                                          "' is reserved by .mvq.safetensors: the input is already "
                                                          "compressed (run `mvq decompress` first)"});

  std::vector<std::pair<const io::tensor_info*, decision>> plan;
  std::size_t n_compress = 0;
  for (auto const& t : in->tensors()) {
    bool structural = false;
    auto dec = classify(*in, t, a, opt.nm, structural);
    if (!a.only.empty() && structural && std::regex_search(t.name, std::regex(a.only)))
      return mvq_cli::report({errc::invalid_argument, a.in + ": tensor '" + t.name + "' " +
                                                          shape_str(t.shape) +
                                                          " was selected by --only but cannot be compressed: " +
                                                          dec.reason});
    n_compress += dec.compress();
    plan.emplace_back(&t, std::move(dec));
  }
  if (n_compress == 0) {
    std::string why;
    for (auto const& [t, dec] : plan) why += "\n  " + t->name + ": " + dec.reason;
    return mvq_cli::report({errc::invalid_argument, a.in + ": no tensor can be compressed with --d " +
                                                        std::to_string(a.d) +
                                                        (opt.nm.dense() ? "" : " --nm " + mvq::to_string(opt.nm)) +
                                                        ":" + why});
  }

  // ---- compress
  const bool progress = ::isatty(fileno(stderr)) != 0;
  std::vector<layer_result> layers;
  std::size_t done = 0;
  for (auto const& [t, dec] : plan) {
    if (!dec.compress()) continue;
    if (progress) std::fprintf(stderr, "\r\033[K[%zu/%zu] %s", ++done, n_compress, t->name.c_str());
    auto w = in->read_f32(t->name);
    if (!w) return mvq_cli::report(w.error());
    auto rc = io::matrix_shape(t->shape, "tensor '" + t->name + "'");
    if (!rc) return mvq_cli::report(rc.error());
    const auto [rows, cols] = *rc;
    auto wr = io::to_reduction_order(*w, t->shape, order);
    for (float v : wr)
      if (!std::isfinite(v))
        return mvq_cli::report({errc::invalid_argument, a.in + ": tensor '" + t->name + "' holds a non-finite weight"});

    std::vector<float> x;
    std::size_t x_rows = 0;
    if (calib) {
      if (auto const* ct = calib->find(t->name)) {
        if (ct->shape.size() != 2 || ct->shape[1] != cols || !io::is_floating(ct->type))
          return mvq_cli::report({errc::shape_mismatch,
                                  a.calib + ": calibration tensor '" + t->name + "' is " +
                                      std::string(io::dtype_name(ct->type)) + " " + shape_str(ct->shape) +
                                      ", layer '" + t->name + "' " + shape_str(t->shape) +
                                      " needs F32 [rows, " + std::to_string(cols) + "]"});
        auto xr = calib->read_f32(t->name);
        if (!xr) return mvq_cli::report(xr.error());
        x_rows = ct->shape[0];
        std::vector<std::uint64_t> xshape = t->shape;
        xshape[0] = x_rows;
        x = io::to_reduction_order(*xr, xshape, order);
      }
    }
    layer_result L;
    L.name = t->name;
    L.info = {t->name, a.method, t->shape};
    // The layout records ohwi only where it differs from oihw (a kernel with more than one tap).
    quant::compress_options lo = opt;
    lo.order = t->shape.size() >= 3 && cols != t->shape[1] ? order : mvq::reduction_order::oihw;
    auto t0 = std::chrono::steady_clock::now();
    auto cm = quant::compress(mvq::matrix_view<const float>(wr.data(), rows, cols), lo,
                              mvq::matrix_view<const float>(x.data(), x_rows, x_rows ? cols : 0), &L.stats);
    L.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!cm) {
      if (progress) std::fputc('\n', stderr);
      return mvq_cli::report({cm.error().code, a.in + ": tensor '" + t->name + "': " + cm.error().message});
    }
    L.matrix = std::move(*cm);
    L.n_weights = t->elements();
    L.bits = L.matrix.layout.stored_bits();
    L.input_bits = t->elements() * io::dtype_size(t->type) * 8;
    layers.push_back(std::move(L));
  }
  if (progress) std::fprintf(stderr, "\r\033[K");

  // ---- write (only now: a failure above leaves no output file)
  io::mvq_writer writer;
  for (auto const& [key, value] : in->metadata())
    if (auto r = writer.set_metadata(key, value); !r) return mvq_cli::report(r.error());
  std::size_t li = 0;
  std::uint64_t dense_bits = 0, all_weights = 0;
  for (auto const& [t, dec] : plan) {
    all_weights += t->elements();
    if (dec.compress()) {
      auto const& L = layers[li++];
      if (auto r = writer.add_layer(L.info, L.matrix.view()); !r) return mvq_cli::report(r.error());
    } else {
      dense_bits += t->elements() * io::dtype_size(t->type) * 8;
      if (auto r = writer.add_tensor(t->name, t->type, t->shape, in->data(*t)); !r) return mvq_cli::report(r.error());
    }
  }
  if (auto r = writer.write(a.out); !r) return mvq_cli::report(r.error());

  // ---- report
  double w2 = 0, e2 = 0, o2 = 0, oe2 = 0, secs = 0;
  std::uint64_t n = 0, bits = 0, in_bits = 0;
  bool any_output = false;
  nlohmann::ordered_json jl = nlohmann::ordered_json::array();
  for (auto const& L : layers) {
    auto const& s = L.stats;
    auto const& l = L.matrix.layout;
    w2 += s.weight_norm2;
    e2 += s.weight_err2;
    n += L.n_weights;
    bits += L.bits;
    in_bits += L.input_bits;
    secs += L.seconds;
    std::optional<double> osnr;
    if (s.output_norm2 && s.output_err2) {
      any_output = true;
      o2 += *s.output_norm2;
      oe2 += *s.output_err2;
      osnr = db(*s.output_norm2, *s.output_err2);
    }
    nlohmann::ordered_json j;
    j["name"] = L.name;
    j["method"] = L.info.method;
    j["k"] = l.k();
    j["d"] = l.d();
    j["n"] = l.nm.n;
    j["m"] = l.nm.m;
    j["n_weights"] = L.n_weights;
    j["bits"] = L.bits;
    j["bits_per_weight"] = static_cast<double>(L.bits) / static_cast<double>(L.n_weights);
    j["weight_sqnr_db"] = json_db(db(s.weight_norm2, s.weight_err2));
    j["output_snr_db"] = s.output_norm2 && s.output_err2 ? json_db(osnr) : nlohmann::ordered_json(nullptr);
    j["seconds"] = L.seconds;
    j["exact"] = s.weight_err2 == 0.0;
    jl.push_back(std::move(j));
  }
  const double bpw = static_cast<double>(bits) / static_cast<double>(n);
  const double model_bpw = static_cast<double>(bits + dense_bits) / static_cast<double>(all_weights);
  if (a.json) {
    nlohmann::ordered_json total;
    total["n_weights"] = n;
    total["bits"] = bits;
    total["bits_per_weight"] = bpw;
    total["compression_ratio"] = static_cast<double>(in_bits) / static_cast<double>(bits);
    total["model_bits_per_weight"] = model_bpw;
    total["weight_sqnr_db"] = json_db(db(w2, e2));
    total["output_snr_db"] = any_output ? json_db(db(o2, oe2)) : nlohmann::ordered_json(nullptr);
    total["seconds"] = secs;
    nlohmann::ordered_json out;
    out["layers"] = std::move(jl);
    out["total"] = std::move(total);
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
    return mvq_cli::exit_ok;
  }
  std::printf("%-32s %-18s %-6s %6s %3s %5s %8s %9s %9s %8s\n", "layer", "shape", "method", "K", "d", "N:M", "bits/w",
              "wSQNR dB", "oSNR dB", "seconds");
  for (auto const& L : layers) {
    auto const& s = L.stats;
    auto const& l = L.matrix.layout;
    bool has_out = s.output_norm2 && s.output_err2;
    std::printf("%-32s %-18s %-6s %6u %3u %5s %8.3f %9s %9s %8.2f\n", L.name.c_str(),
                shape_str(L.info.shape).c_str(), L.info.method.c_str(), l.k(), l.d(), mvq::to_string(l.nm).c_str(),
                l.bits_per_weight(), fmt_db(db(s.weight_norm2, s.weight_err2), true).c_str(),
                fmt_db(has_out ? db(*s.output_norm2, *s.output_err2) : std::nullopt, has_out).c_str(), L.seconds);
  }
  std::size_t kept = 0;
  for (auto const& [t, dec] : plan)
    if (!dec.compress()) {
      if (kept++ == 0) std::printf("\nkept dense:\n");
      std::printf("  %-32s %-18s %s\n", t->name.c_str(), shape_str(t->shape).c_str(), dec.reason.c_str());
    }
  std::printf("\n%zu of %zu tensors compressed: %llu weights at %.3f bits/weight (%.1fx smaller), "
              "weight SQNR %s dB, output SNR %s, %.2f s\n",
              layers.size(), plan.size(), static_cast<unsigned long long>(n), bpw,
              static_cast<double>(in_bits) / static_cast<double>(bits), fmt_db(db(w2, e2), true).c_str(),
              any_output ? (fmt_db(db(o2, oe2), true) + " dB").c_str() : "n/a (no calibration rows)", secs);
  std::printf("whole model: %.3f bits/weight; wrote %s\n", model_bpw, a.out.c_str());
  return mvq_cli::exit_ok;
}

const mvq_cli::registrar reg([](CLI::App& app, int& exit_code) {
  auto a = std::make_shared<compress_args>();
  auto* cmd = app.add_subcommand(
      "compress",
      "Compress the weight tensors of a safetensors file with k-means VQ or MVQ (N:M pruning + masked k-means) "
      "into .mvq.safetensors (docs/format.md). A tensor is compressed when it has >= 2 dims, a float dtype, a "
      "reduction length (product of all dims but the first) that is a multiple of d and M, at least --min-size "
      "weights, is not a grouped/depthwise conv (metadata \"group\" > 1, else shape [O,1,kh,kw] with more than "
      "one tap) or a ConvTranspose (metadata \"op\", else the name), and does not match --keep. Everything else is copied unchanged.");
  cmd->add_option("input", a->in, "input .safetensors")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", a->out, "output .mvq.safetensors (written only when everything succeeded)")
      ->required();
  cmd->add_option("--method", a->method, "kmeans (plain VQ) or mvq (N:M pruning + masked k-means)")
      ->check(CLI::IsMember({"kmeans", "mvq"}))
      ->capture_default_str();
  cmd->add_option("--k", a->k, "codebook size K (power of two; small layers get a smaller K)")->capture_default_str();
  cmd->add_option("--d", a->d, "sub-vector dimension d")->capture_default_str();
  cmd->add_option("--nm", a->nm, "N:M pattern for --method mvq (default 2:4)");
  cmd->add_option("--mask-encoding", a->mask_encoding, "bitmap (M bits per group) or pattern (rank, fewer bits)")
      ->check(CLI::IsMember({"bitmap", "pattern"}))
      ->capture_default_str();
  cmd->add_option("--calib", a->calib,
                  "calibration .safetensors: under each layer's name, F32 [rows, reduction] input rows "
                  "(activation-aware pruning and output SNR)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--keep", a->keep, "keep tensors whose name matches this regular expression dense");
  cmd->add_option("--only", a->only,
                  "compress only tensors whose name matches this regular expression; a matching tensor that "
                  "cannot be compressed is an error (--min-size does not apply to them)");
  cmd->add_option("--min-size", a->min_size, "keep tensors with fewer weights dense")->capture_default_str();
  cmd->add_option("--codebook", a->codebook, "codebook storage: f32, f16, or i8 with one fp32 scale")
      ->check(CLI::IsMember({"f32", "f16", "i8"}))
      ->capture_default_str();
  cmd->add_option("--layout", a->layout,
                  "reduction order of conv weights: oihw (I outer, kh·kw inner) or ohwi (kh·kw outer, I inner)")
      ->check(CLI::IsMember({"oihw", "ohwi"}))
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed (the output is identical for a given seed)")->capture_default_str();
  cmd->add_option("--threads", a->threads, "worker threads (the output does not depend on it)")->capture_default_str();
  cmd->add_flag("--json", a->json, "print one JSON object {layers, total} instead of the table");
  cmd->callback([a, &exit_code] { exit_code = run(*a); });
});

}  // namespace
