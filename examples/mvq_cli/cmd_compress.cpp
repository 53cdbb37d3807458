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
#include <set>
#include <tuple>
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
#include "mvq/quant/mixed_precision.hpp"
#include "mvq/io/calibration_file.hpp"
#include "layer_methods.hpp"

namespace {

using mvq::errc;
using mvq::fail;
using mvq::result;
using mvq_cli::layer_candidate;
using mvq_cli::layer_config;
using mvq_cli::method;
using mvq_cli::compress_layer;
using mvq_cli::label;
using mvq_cli::output_aware;
using mvq_cli::parse_method;
using mvq_cli::to_string;

struct compress_args {
  std::string in, out, method = "mvq", nm, mask_encoding = "pattern", calib, keep, only, codebook = "f32",
                       layout = "oihw";
  std::uint32_t k = 256, d = 8, group = 0;
  unsigned bits = 4, candidates = 2, iters = 0;
  std::uint64_t min_size = 4096, seed = 0;
  unsigned threads = 1;
  double budget = 0;
  bool json = false, zero_data = false, finetune = false, affine = false, act_order = false;
  // which options were given on the command line (for "option X does not apply to method Y")
  std::map<std::string, bool> given;
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
  if (a.method == "gptq") {
    if (a.group && cols % a.group != 0)
      return {"reduction length " + std::to_string(cols) + " is not a multiple of --group " + std::to_string(a.group)};
  } else if (cols % a.d != 0) {
    return {"reduction length " + std::to_string(cols) + " is not a multiple of d = " + std::to_string(a.d)};
  }
  if (!nm.dense() && cols % nm.m != 0)
    return {"reduction length " + std::to_string(cols) + " is not a multiple of M = " + std::to_string(nm.m)};
  structural = false;
  if (!a.keep.empty() && std::regex_search(t.name, std::regex(a.keep))) return {"matches --keep"};
  if (a.only.empty() && t.elements() < a.min_size)
    return {std::to_string(t.elements()) + " weights < --min-size " + std::to_string(a.min_size)};
  if (!a.only.empty() && !std::regex_search(t.name, std::regex(a.only))) return {"does not match --only"};
  return {};
}

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


// Where a layer's H came from, for the report.
struct layer_statistics {
  std::vector<double> gram;  // empty: none
  std::string source;        // "rows", "statistics", "identity", "identity (no entry in --calib)", ""
};

// One eligible tensor as it goes through compression.
struct layer_job {
  const mvq::io::tensor_info* tensor = nullptr;
  std::size_t rows = 0, cols = 0;
  mvq::reduction_order order = mvq::reduction_order::oihw;
  std::vector<layer_candidate> candidates;  // one, or the bit-budget grid
  std::size_t chosen = 0;
  std::string calibration;
  double seconds = 0;
};

// H over the weight's columns in `order`, from a statistics file whose H is over the oihw columns.
std::vector<double> reorder_gram(std::span<const double> h, std::span<const std::uint64_t> shape,
                                 mvq::reduction_order order) {
  const std::size_t n = static_cast<std::size_t>(std::sqrt(static_cast<double>(h.size())));
  std::vector<double> out(h.begin(), h.end());
  if (order == mvq::reduction_order::oihw || shape.size() < 3) return out;
  // perm[new column] = old column, by reordering the column indices like a one-row tensor.
  std::vector<float> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = static_cast<float>(i);
  std::vector<std::uint64_t> one = {shape.begin(), shape.end()};
  one[0] = 1;
  const auto perm = mvq::io::to_reduction_order(idx, one, order);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      out[i * n + j] = h[static_cast<std::size_t>(perm[i]) * n + static_cast<std::size_t>(perm[j])];
  return out;
}

// The configurations a layer chooses from under --budget: the method at a grid of K (VQ) or bits (gptq), then
// 8-bit GPTQ and the dense tensor itself.
std::vector<layer_config> budget_grid(layer_config base) {
  std::vector<layer_config> g;
  if (base.how == method::gptq) {
    for (unsigned b : {2u, 3u, 4u, 5u, 6u}) {
      base.bits = b;
      g.push_back(base);
    }
  } else {
    std::set<std::uint32_t> ks{16, 64, 256, 1024, 4096, base.vq.codebook_size};
    for (auto k : ks) {
      base.vq.codebook_size = k;
      g.push_back(base);
    }
  }
  layer_config i8;
  i8.how = method::gptq;
  i8.bits = 8;
  i8.group = 0;
  g.push_back(i8);
  layer_config dense;
  dense.dense = true;
  g.push_back(dense);
  return g;
}

int run(compress_args a) {
  namespace io = mvq::io;
  namespace quant = mvq::quant;
  auto usage = [](std::string msg) { return mvq_cli::report({errc::invalid_argument, std::move(msg)}); };
  // ---- options
  for (auto const* re : {&a.keep, &a.only}) {
    try {
      if (!re->empty()) (void)std::regex(*re);
    } catch (const std::regex_error& e) {
      return usage("invalid regular expression '" + *re + "': " + e.what());
    }
  }
  const auto how = parse_method(a.method);
  if (!how) return usage("--method " + a.method + ": not one of kmeans, mvq, gptq, gptvq, vq4dit");
  auto given = [&](const char* o) { return a.given.count(o) && a.given.at(o); };
  const bool vq_family = *how != method::gptq;
  // Options that do not apply to the method are refused rather than silently ignored.
  for (auto const& [opt, applies] : std::vector<std::pair<const char*, bool>>{
           {"--k", vq_family},
           {"--d", vq_family},
           {"--codebook", vq_family},
           {"--nm", *how == method::mvq || *how == method::gptvq},
           {"--mask-encoding", *how == method::mvq || *how == method::gptvq},
           {"--bits", *how == method::gptq},
           {"--group", *how == method::gptq},
           {"--affine", *how == method::gptq},
           {"--act-order", *how == method::gptq},
           {"--candidates", *how == method::vq4dit},
           {"--iters", *how == method::vq4dit},
           {"--finetune-codebook", *how == method::kmeans || *how == method::mvq || *how == method::gptvq}})
    if (given(opt) && !applies) return usage(std::string(opt) + " does not apply to --method " + a.method);
  if (a.zero_data && !a.calib.empty()) return usage("--zero-data and --calib exclude each other");
  const bool needs_h = output_aware(*how) || a.finetune || given("--budget");
  if (needs_h && a.calib.empty() && !a.zero_data)
    return usage(std::string(given("--budget") && !output_aware(*how) && !a.finetune ? "--budget"
                             : a.finetune && !output_aware(*how)                   ? "--finetune-codebook"
                                                                                   : "--method " + a.method) +
                 " scores layers by their output error: give --calib FILE (or --zero-data: H = identity)");
  if (given("--budget") && (!std::isfinite(a.budget) || a.budget <= 0))
    return usage("--budget " + std::to_string(a.budget) + ": must be a positive number of bits per weight");

  layer_config base;
  base.how = *how;
  base.seed = a.seed;
  base.finetune = a.finetune;
  base.candidates = a.candidates;
  base.iters = a.iters;
  if (*how == method::gptq) {
    if (a.bits < 2 || a.bits > 8) return usage("--bits " + std::to_string(a.bits) + ": GPTQ stores 2 to 8 bits");
    base.bits = a.bits;
    base.group = a.group;
    base.symmetric = !a.affine;
    base.act_order = a.act_order;
  } else {
    base.codebook = *io::parse_codebook_dtype(a.codebook);
    if (*how == method::mvq || (*how == method::gptvq && !a.nm.empty())) {
      auto nm = parse_nm(a.nm.empty() ? std::string("2:4") : a.nm);
      if (!nm) return mvq_cli::report(nm.error());
      base.nm = *nm;
      base.masks = *io::parse_mask_encoding(a.mask_encoding);
    }
    // d is checked before it is narrowed into vq_config's 8-bit field; the sentences are core's.
    if (a.d == 0 || a.d > mvq::max_subvector_dim)
      return mvq_cli::report(
          {errc::unsupported, "--d " + std::to_string(a.d) + ": " + mvq::sentence(mvq::config_error::vq_dim_range)});
    base.vq = {a.k, static_cast<std::uint8_t>(a.d)};
    if (const char* e = mvq::check(base.vq); *e)
      return usage("--k " + std::to_string(a.k) + ": " + e);
    if (const char* e = mvq::check(base.vq, base.nm); *e)
      return mvq_cli::report(
          {errc::unsupported, "--d " + std::to_string(a.d) + " with --nm " + mvq::to_string(base.nm) + ": " + e});
    if (*how == method::kmeans || *how == method::mvq) {
      quant::compress_options opt{.method = *how == method::mvq ? quant::method::mvq : quant::method::kmeans,
                                  .vq = base.vq,
                                  .nm = base.nm,
                                  .masks = base.masks};
      // An unsupported d or N:M fails here, before any file is read.
      if (auto r = quant::validate(opt, 1, a.d, 0, 0); !r)
        return mvq_cli::report({r.error().code, "--method " + a.method + " --d " + std::to_string(a.d) +
                                                    (base.nm.dense() ? "" : " --nm " + mvq::to_string(base.nm)) +
                                                    ": " + r.error().message});
    }
    if (*how == method::vq4dit && (a.candidates < 1 || a.candidates > a.k))
      return usage("--candidates " + std::to_string(a.candidates) + ": must be between 1 and --k " +
                   std::to_string(a.k));
  }
  const auto order = *mvq::parse_reduction_order(a.layout);

  // ---- inputs
  auto in = io::safetensors_file::open(a.in);
  if (!in) return mvq_cli::report(in.error());
  std::optional<io::safetensors_file> calib;
  std::map<std::string, mvq::calibration> stats;
  if (!a.calib.empty()) {
    auto c = io::safetensors_file::open(a.calib);
    if (!c) return mvq_cli::report(c.error());
    calib = std::move(*c);
    if (io::is_calibration_file(*calib)) {
      auto s = io::load_calibration(*calib);
      if (!s) return mvq_cli::report(s.error());
      stats = std::move(*s);
    }
  }
  const bool stats_file = calib && io::is_calibration_file(*calib);
  for (auto const& [key, value] : in->metadata())
    if (key == io::mvq_format_key || key.starts_with(io::mvq_layer_key_prefix))
      return usage(a.in + ": metadata key '" + key +
                   "' is reserved by .mvq.safetensors: the input is already compressed (run `mvq decompress` first)");

  std::vector<std::pair<const io::tensor_info*, decision>> plan;
  std::size_t n_compress = 0;
  std::uint64_t eligible_weights = 0;
  for (auto const& t : in->tensors()) {
    bool structural = false;
    auto dec = classify(*in, t, a, base.nm, structural);
    if (!a.only.empty() && structural && std::regex_search(t.name, std::regex(a.only)))
      return usage(a.in + ": tensor '" + t.name + "' " + shape_str(t.shape) +
                   " was selected by --only but cannot be compressed: " + dec.reason);
    if (dec.compress()) {
      ++n_compress;
      eligible_weights += t.elements();
    }
    plan.emplace_back(&t, std::move(dec));
  }
  if (n_compress == 0) {
    std::string why;
    for (auto const& [t, dec] : plan) why += "\n  " + t->name + ": " + dec.reason;
    return usage(a.in + ": no tensor can be compressed with --method " + a.method +
                 (vq_family ? " --d " + std::to_string(a.d) : "") +
                 (base.nm.dense() ? "" : " --nm " + mvq::to_string(base.nm)) + ":" + why);
  }

  // ---- compress (nothing is written until every layer succeeded)
  mvq::thread_pool pool(std::max(1u, a.threads));
  const bool tty = ::isatty(fileno(stderr)) != 0;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  std::vector<layer_job> jobs;
  std::uint64_t weights_done = 0;
  bool progress_shown = false;
  const std::vector<layer_config> grid = given("--budget") ? budget_grid(base) : std::vector<layer_config>{base};
  for (auto const& [t, dec] : plan) {
    if (!dec.compress()) continue;
    auto fail_layer = [&, name = t->name](mvq::error const& e) {
      if (progress_shown && tty) std::fputc('\n', stderr);
      return mvq_cli::report({e.code, a.in + ": tensor '" + name + "': " + e.message});
    };
    auto w = in->read_f32(t->name);
    if (!w) return mvq_cli::report(w.error());
    auto rc = io::matrix_shape(t->shape, "tensor '" + t->name + "'");
    if (!rc) return mvq_cli::report(rc.error());
    layer_job job;
    job.tensor = t;
    std::tie(job.rows, job.cols) = *rc;
    // The layout records ohwi only where it differs from oihw (a kernel with more than one tap).
    job.order = t->shape.size() >= 3 && job.cols != t->shape[1] ? order : mvq::reduction_order::oihw;
    auto wr = io::to_reduction_order(*w, t->shape, job.order);
    for (float v : wr)
      if (!std::isfinite(v)) return usage(a.in + ": tensor '" + t->name + "' holds a non-finite weight");
    const mvq::matrix_view<const float> wv(wr.data(), job.rows, job.cols);

    // Calibration: raw rows (F32 [rows, reduction]) or stored statistics, else identity where H is needed.
    std::vector<float> x;
    std::size_t x_rows = 0;
    layer_statistics st;
    if (calib && !stats_file) {
      if (auto const* ct = calib->find(t->name)) {
        if (ct->shape.size() != 2 || ct->shape[1] != job.cols || !io::is_floating(ct->type))
          return mvq_cli::report({errc::shape_mismatch,
                                  a.calib + ": calibration tensor '" + t->name + "' is " +
                                      std::string(io::dtype_name(ct->type)) + " " + shape_str(ct->shape) +
                                      ", layer '" + t->name + "' " + shape_str(t->shape) + " needs F32 [rows, " +
                                      std::to_string(job.cols) + "]"});
        auto xr = calib->read_f32(t->name);
        if (!xr) return mvq_cli::report(xr.error());
        x_rows = ct->shape[0];
        std::vector<std::uint64_t> xshape = t->shape;
        xshape[0] = x_rows;
        x = io::to_reduction_order(*xr, xshape, job.order);
        auto cal = mvq::calibration::create(job.cols);
        if (!cal) return fail_layer(cal.error());
        if (auto r = cal->add(mvq::matrix_view<const float>(x.data(), x_rows, job.cols), pool); !r)
          return mvq_cli::report({r.error().code, a.calib + ": calibration tensor '" + t->name + "': " +
                                                      r.error().message});
        st.gram.assign(cal->gram().begin(), cal->gram().end());
        st.source = "rows";
      }
    } else if (stats_file) {
      if (auto it = stats.find(t->name); it != stats.end()) {
        if (it->second.cols() != job.cols)
          return mvq_cli::report({errc::shape_mismatch, a.calib + ": statistics of '" + t->name + "' have width " +
                                                            std::to_string(it->second.cols()) + ", layer " +
                                                            shape_str(t->shape) + " needs " +
                                                            std::to_string(job.cols)});
        st.gram = reorder_gram(it->second.gram(), t->shape, job.order);
        st.source = "statistics";
      }
    }
    if (st.gram.empty() && (needs_h || a.zero_data)) {
      st.gram.assign(job.cols * job.cols, 0.0);
      for (std::size_t i = 0; i < job.cols; ++i) st.gram[i * job.cols + i] = 1.0;
      st.source = a.zero_data ? "identity" : "identity (no entry in --calib)";
    }
    job.calibration = st.source;

    const std::uint64_t dense_bits = t->elements() * io::dtype_size(t->type) * 8;
    const auto t0 = std::chrono::steady_clock::now();
    for (auto const& cfg : grid) {
      auto c = compress_layer(wv, cfg, st.gram, mvq::matrix_view<const float>(x.data(), x_rows, x_rows ? job.cols : 0),
                              job.order, dense_bits, pool);
      if (!c) return fail_layer(c.error());
      job.candidates.push_back(std::move(*c));
    }
    job.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    weights_done += t->elements();
    jobs.push_back(std::move(job));
    // Progress on stderr once the run has taken more than a second: layer i/n, elapsed, ETA by weights done.
    if (const double el = elapsed(); el > 1.0 && jobs.size() < n_compress) {
      const double eta = el * static_cast<double>(eligible_weights - weights_done) / static_cast<double>(weights_done);
      std::fprintf(stderr, "%s[%zu/%zu] %s  %.1f s, ETA %.0f s%s", tty ? "\r\033[K" : "", jobs.size(), n_compress,
                   t->name.c_str(), el, eta, tty ? "" : "\n");
      progress_shown = true;
    }
  }
  if (progress_shown && tty) std::fprintf(stderr, "\r\033[K");

  // ---- bit budget: one candidate per layer
  std::string allocator_note;
  if (given("--budget")) {
    std::vector<quant::allocation_layer> ml;
    for (auto const& j : jobs) {
      quant::allocation_layer l;
      l.name = j.tensor->name;
      l.weights = j.tensor->elements();
      for (auto const& c : j.candidates)
        l.candidates.push_back({.label = label(c.config), .bits = c.bits, .error = c.relative_output_error()});
      ml.push_back(std::move(l));
    }
    auto alloc = quant::allocate(ml, a.budget, quant::allocator::dp);
    if (!alloc) return mvq_cli::report({alloc.error().code, "--budget: " + alloc.error().message});
    for (std::size_t i = 0; i < jobs.size(); ++i) jobs[i].chosen = alloc->choice[i];
  }

  // ---- write (only now: a failure above leaves no output file)
  io::mvq_writer writer;
  for (auto const& [key, value] : in->metadata())
    if (auto r = writer.set_metadata(key, value); !r) return mvq_cli::report(r.error());
  std::size_t ji = 0;
  std::uint64_t dense_bits = 0, all_weights = 0;
  for (auto const& [t, dec] : plan) {
    all_weights += t->elements();
    const layer_candidate* c = dec.compress() ? &jobs[ji].candidates[jobs[ji].chosen] : nullptr;
    if (dec.compress()) ++ji;
    if (c && !c->config.dense) {
      io::mvq_layer_info info{t->name, to_string(c->config.how), t->shape};
      if (auto const* m = std::get_if<mvq::compressed_matrix>(&c->matrix)) {
        if (auto r = writer.add_layer(info, m->view()); !r) return mvq_cli::report(r.error());
      } else if (auto const* s = std::get_if<mvq::scalar_matrix>(&c->matrix)) {
        if (auto r = writer.add_scalar_layer(info, s->view()); !r) return mvq_cli::report(r.error());
      }
    } else {
      if (!c) dense_bits += t->elements() * io::dtype_size(t->type) * 8;
      if (auto r = writer.add_tensor(t->name, t->type, t->shape, in->data(*t)); !r) return mvq_cli::report(r.error());
    }
  }
  if (auto r = writer.write(a.out); !r) return mvq_cli::report(r.error());

  // ---- report
  double w2 = 0, e2 = 0, o2 = 0, oe2 = 0, secs = 0;
  std::uint64_t n = 0, bits = 0, in_bits = 0;
  bool any_output = false;
  nlohmann::ordered_json jl = nlohmann::ordered_json::array();
  auto layer_json = [](layer_candidate const& c, std::uint64_t n_weights) {
    nlohmann::ordered_json j;
    j["method"] = c.config.dense ? "dense" : to_string(c.config.how);
    j["config"] = label(c.config);
    if (auto const* m = std::get_if<mvq::compressed_matrix>(&c.matrix)) {
      j["k"] = m->layout.k();
      j["d"] = m->layout.d();
      j["n"] = m->layout.nm.n;
      j["m"] = m->layout.nm.m;
    } else if (auto const* s = std::get_if<mvq::scalar_matrix>(&c.matrix)) {
      j["bits_per_code"] = s->layout.bits;
      j["group"] = s->layout.group;
      j["symmetric"] = s->layout.symmetric;
    }
    j["n_weights"] = n_weights;
    j["bits"] = c.bits;
    j["bits_per_weight"] = static_cast<double>(c.bits) / static_cast<double>(n_weights);
    j["weight_sqnr_db"] = json_db(db(c.weight_norm2, c.weight_err2));
    j["output_snr_db"] = c.output_norm2 ? json_db(db(*c.output_norm2, *c.output_err2)) : nlohmann::ordered_json(nullptr);
    j["exact"] = c.weight_err2 == 0.0;
    return j;
  };
  for (auto const& job : jobs) {
    auto const& c = job.candidates[job.chosen];
    const std::uint64_t nw = job.tensor->elements();
    w2 += c.weight_norm2;
    e2 += c.weight_err2;
    n += nw;
    bits += c.bits;
    in_bits += nw * io::dtype_size(job.tensor->type) * 8;
    secs += job.seconds;
    if (c.output_norm2) {
      any_output = true;
      o2 += *c.output_norm2;
      oe2 += *c.output_err2;
    }
    nlohmann::ordered_json j;
    j["name"] = job.tensor->name;
    j["shape"] = job.tensor->shape;
    const auto described = layer_json(c, nw);
    for (auto const& [k, v] : described.items()) j[k] = v;
    j["calibration"] = job.calibration.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(job.calibration);
    j["seconds"] = job.seconds;
    if (job.candidates.size() > 1) {
      nlohmann::ordered_json cands = nlohmann::ordered_json::array();
      for (auto const& cc : job.candidates) {
        auto cj = layer_json(cc, nw);
        cands.push_back({{"config", cj["config"]}, {"bits_per_weight", cj["bits_per_weight"]},
                         {"output_snr_db", cj["output_snr_db"]}});
      }
      j["candidates"] = std::move(cands);
    }
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
    if (given("--budget")) total["budget"] = a.budget;
    total["threads"] = std::max(1u, a.threads);
    total["seconds"] = secs;
    nlohmann::ordered_json out;
    out["layers"] = std::move(jl);
    out["total"] = std::move(total);
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
    return mvq_cli::exit_ok;
  }
  std::printf("%-32s %-18s %-24s %8s %9s %9s %8s\n", "layer", "shape", "configuration", "bits/w", "wSQNR dB",
              "oSNR dB", "seconds");
  for (auto const& job : jobs) {
    auto const& c = job.candidates[job.chosen];
    const bool has_out = c.output_norm2.has_value();
    std::printf("%-32s %-18s %-24s %8.3f %9s %9s %8.2f\n", job.tensor->name.c_str(), shape_str(job.tensor->shape).c_str(),
                label(c.config).c_str(), static_cast<double>(c.bits) / static_cast<double>(job.tensor->elements()),
                fmt_db(db(c.weight_norm2, c.weight_err2), true).c_str(),
                fmt_db(has_out ? db(*c.output_norm2, *c.output_err2) : std::nullopt, has_out).c_str(), job.seconds);
  }
  std::size_t kept = 0;
  for (auto const& [t, dec] : plan)
    if (!dec.compress()) {
      if (kept++ == 0) std::printf("\nkept dense:\n");
      std::printf("  %-32s %-18s %s\n", t->name.c_str(), shape_str(t->shape).c_str(), dec.reason.c_str());
    }
  std::printf("\n%zu of %zu tensors compressed: %llu weights at %.3f bits/weight (%.1fx smaller), "
              "weight SQNR %s dB, output SNR %s, %.2f s\n",
              jobs.size(), plan.size(), static_cast<unsigned long long>(n), bpw,
              static_cast<double>(in_bits) / static_cast<double>(bits), fmt_db(db(w2, e2), true).c_str(),
              any_output ? (fmt_db(db(o2, oe2), true) + " dB").c_str() : "n/a (no calibration rows)", secs);
  std::printf("whole model: %.3f bits/weight; wrote %s\n", model_bpw, a.out.c_str());
  return mvq_cli::exit_ok;
}

const mvq_cli::registrar reg([](CLI::App& app, int& exit_code) {
  auto a = std::make_shared<compress_args>();
  auto* cmd = app.add_subcommand(
      "compress",
      "Compress the weight tensors of a safetensors file into .mvq.safetensors (docs/format.md) with k-means VQ, "
      "MVQ (N:M pruning + masked k-means), GPTQ (scalar 2-8 bits with error feedback), GPTVQ (vector "
      "quantization with error feedback, optionally N:M) or VQ4DiT (candidate-assignment calibration). A tensor "
      "is compressed when it has >= 2 dims, a float dtype, a reduction length (product of all dims but the "
      "first) that is a multiple of d and M (gptq: of --group), at least --min-size weights, is not a "
      "grouped/depthwise conv (metadata \"group\" > 1, else shape [O,1,kh,kw] with more than one tap) or a "
      "ConvTranspose (metadata \"op\", else the name), and does not match --keep. Everything else is copied "
      "unchanged. Output-aware methods, --finetune-codebook and --budget score a layer by its output error "
      "||X(W - W^)^T||^2 = tr(E H E^T) with H = X^T X from --calib (layers without an entry there use H = I) or "
      "H = I with --zero-data.");
  cmd->add_option("input", a->in, "input .safetensors")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", a->out, "output .mvq.safetensors (written only when everything succeeded)")
      ->required();
  std::vector<std::pair<std::string, CLI::Option*>> opts;
  auto track = [&](CLI::Option* o, std::string name) {
    opts.emplace_back(std::move(name), o);
    return o;
  };
  cmd->add_option("--method", a->method, "kmeans, mvq, gptq, gptvq or vq4dit")
      ->check(CLI::IsMember({"kmeans", "mvq", "gptq", "gptvq", "vq4dit"}))
      ->capture_default_str();
  track(cmd->add_option("--k", a->k, "codebook size K (power of two; small layers get a smaller K)")->capture_default_str(), "--k");
  track(cmd->add_option("--d", a->d, "sub-vector dimension d")->capture_default_str(), "--d");
  track(cmd->add_option("--nm", a->nm, "N:M pattern: mvq (default 2:4) or gptvq (default none)"), "--nm");
  track(cmd->add_option("--mask-encoding", a->mask_encoding, "bitmap (M bits per group) or pattern (rank, fewer bits)")
            ->check(CLI::IsMember({"bitmap", "pattern"}))
            ->capture_default_str(), "--mask-encoding");
  track(cmd->add_option("--bits", a->bits, "gptq: bits per weight code, 2 to 8")->capture_default_str(), "--bits");
  track(cmd->add_option("--group", a->group,
                        "gptq: one scale per group of this many reduction columns (e.g. 32, 64, 128); 0 = one per "
                        "output channel")
            ->capture_default_str(), "--group");
  track(cmd->add_flag("--affine", a->affine, "gptq: asymmetric (scale and zero point) instead of symmetric"), "--affine");
  track(cmd->add_flag("--act-order", a->act_order, "gptq: quantize columns in decreasing order of diag(H)"), "--act-order");
  track(cmd->add_option("--candidates", a->candidates, "vq4dit: candidate codewords per sub-vector")->capture_default_str(), "--candidates");
  track(cmd->add_option("--iters", a->iters, "vq4dit: calibration iterations (0 = the library's default)")->capture_default_str(), "--iters");
  track(cmd->add_flag("--finetune-codebook", a->finetune,
                      "kmeans, mvq, gptvq: fine-tune the codebook on the layer output (least squares over the "
                      "codewords on H + 1 % damping, masks fixed, alternating with re-assignment)"), "--finetune-codebook");
  track(cmd->add_option("--budget", a->budget,
                        "mixed precision: choose per layer among the method at several K (or bits), 8-bit GPTQ and "
                        "dense, so that total.bits_per_weight (indices, masks, codebooks, scales over the "
                        "compressed layers) is at most this, minimising the summed relative output error"),
        "--budget");
  cmd->add_option("--calib", a->calib,
                  "calibration .safetensors: under each layer's name, F32 [rows, reduction] input rows, or a "
                  "statistics file written by io::save_calibration")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--zero-data", a->zero_data, "no calibration data: H = identity for every layer");
  track(cmd->add_option("--codebook", a->codebook, "codebook storage: f32, f16, or i8 with one fp32 scale")
            ->check(CLI::IsMember({"f32", "f16", "i8"}))
            ->capture_default_str(), "--codebook");
  cmd->add_option("--keep", a->keep, "keep tensors whose name matches this regular expression dense");
  cmd->add_option("--only", a->only,
                  "compress only tensors whose name matches this regular expression; a matching tensor that "
                  "cannot be compressed is an error (--min-size does not apply to them)");
  cmd->add_option("--min-size", a->min_size, "keep tensors with fewer weights dense")->capture_default_str();
  cmd->add_option("--layout", a->layout,
                  "reduction order of conv weights: oihw (I outer, kh·kw inner) or ohwi (kh·kw outer, I inner)")
      ->check(CLI::IsMember({"oihw", "ohwi"}))
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed (the output is identical for a given seed)")->capture_default_str();
  cmd->add_option("--threads", a->threads, "worker threads (the output does not depend on it)")->capture_default_str();
  cmd->add_flag("--json", a->json, "print one JSON object {layers, total} instead of the table");
  cmd->callback([a, opts, &exit_code] {
    for (auto const& [name, o] : opts) a->given[name] = o->count() > 0;
    exit_code = run(*a);
  });
});

}  // namespace
