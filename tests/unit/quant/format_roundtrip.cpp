// `.mvq.safetensors` v1: writer → file → reader round trips, reduction orders, and rejection of corrupt files.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "models.hpp"
#include "mvq/io/mvq_format.hpp"

using namespace mvq;
using namespace mvq::io;

namespace {

// A random valid compressed matrix whose codebook is representable in `l.codebook` (f16-rounded values, or
// q · scale), and whose masks are random patterns (pattern encoding) or random bitmaps with ≤ N bits (bitmap).
compressed_matrix random_matrix(compressed_layout l, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  auto cm = compressed_matrix::allocate(l).value();
  if (l.codebook == codebook_dtype::i8) {
    cm.codebook_scale = 0.0123f + static_cast<float>(seed % 7) * 0.001f;
    for (std::size_t i = 0; i < cm.codebook.size(); ++i) {
      cm.codebook_i8[i] = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
      cm.codebook[i] = static_cast<float>(cm.codebook_i8[i]) * cm.codebook_scale;
    }
  } else {
    for (auto& c : cm.codebook) c = l.codebook == codebook_dtype::f16 ? from_f16(to_f16(u(rng))) : u(rng);
  }
  for (std::size_t r = 0; r < l.rows; ++r) {
    auto row = std::span(cm.indices).subspan(r * l.index_bytes_per_row(), l.index_bytes_per_row());
    for (std::size_t s = 0; s < l.subvectors_per_row(); ++s)
      write_bits(row, s, l.index_bits(), static_cast<std::uint32_t>(rng() % l.k()));
    if (l.nm.dense()) continue;
    auto mrow = std::span(cm.masks).subspan(r * l.mask_bytes_per_row(), l.mask_bytes_per_row());
    for (std::size_t g = 0; g < l.groups_per_row(); ++g) {
      std::uint32_t v = static_cast<std::uint32_t>(rng() % pattern_count(l.nm));
      if (l.masks == mask_encoding::bitmap) {
        v = pattern_bitmap(l.nm, v);
        if (rng() % 4 == 0) v &= v - 1;  // fewer than N kept is a valid bitmap too
      }
      write_bits(mrow, g, l.mask_bits(), v);
    }
  }
  REQUIRE(validate(cm.view()));
  return cm;
}

std::vector<std::byte> bytes_of(std::span<const float> f) {
  std::vector<std::byte> b(f.size() * 4);
  std::memcpy(b.data(), f.data(), b.size());
  return b;
}

struct layer_case {
  std::vector<std::uint64_t> shape;
  std::uint32_t k, d;
  nm_pattern nm;
};

}  // namespace

TEST_CASE("reduction orders: ohwi puts the input channel innermost, and from_ inverts to_", "[format]") {
  // [O=2, I=3, kh=2, kw=1]: element (o, i, s) holds 100·o + 10·i + s.
  std::vector<std::uint64_t> shape{2, 3, 2, 1};
  std::vector<float> w(12);
  for (int o = 0; o < 2; ++o)
    for (int i = 0; i < 3; ++i)
      for (int s = 0; s < 2; ++s) w[static_cast<std::size_t>(o * 6 + i * 2 + s)] = static_cast<float>(100 * o + 10 * i + s);
  CHECK(to_reduction_order(w, shape, reduction_order::oihw) == w);
  auto h = to_reduction_order(w, shape, reduction_order::ohwi);
  CHECK(h == std::vector<float>{0, 10, 20, 1, 11, 21, 100, 110, 120, 101, 111, 121});
  CHECK(from_reduction_order(h, shape, reduction_order::ohwi) == w);
  std::vector<std::uint64_t> mat{3, 4};
  std::vector<float> m(12);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<float>(i);
  CHECK(to_reduction_order(m, mat, reduction_order::ohwi) == m);  // 2-D: both orders are the identity
  std::mt19937 rng(5);
  std::vector<std::uint64_t> big{5, 7, 3, 2};
  std::vector<float> r(5 * 7 * 3 * 2);
  for (auto& x : r) x = static_cast<float>(rng() % 1000);
  CHECK(from_reduction_order(to_reduction_order(r, big, reduction_order::ohwi), big, reduction_order::ohwi) == r);
}

TEST_CASE("layer metadata JSON holds exactly the fields of the issue", "[format]") {
  compressed_layout l{.rows = 48, .cols = 432, .vq = {256, 16}, .nm = {2, 4}, .masks = mask_encoding::pattern};
  mvq_layer_info info{"006_conv", "mvq", {48, 48, 3, 3}};
  CHECK(layer_metadata_json(info, l) ==
        R"({"method":"mvq","k":256,"d":16,"n":2,"m":4,"shape":[48,48,3,3],"layout":"oihw","index_bits":8,)"
        R"("mask_encoding":"pattern","codebook_dtype":"f32"})");
  auto back = parse_layer_metadata("006_conv", layer_metadata_json(info, l), "x");
  REQUIRE(back);
  CHECK(back->second == l);
  CHECK(back->first.shape == info.shape);
  CHECK(back->first.method == "mvq");
}

TEST_CASE("format round trip: every codebook dtype × mask encoding × dense/N:M, odd shapes", "[format]") {
  const std::vector<layer_case> cases{
      {{7, 3, 3, 3}, 16, 9, {}},          // conv, d = 9 (odd), dense
      {{5, 40}, 2, 4, {1, 4}},            // linear, K = 2 (1-bit indices), 1:4 (2-bit patterns)
      {{3, 6, 2, 2}, 256, 8, {2, 4}},     // conv, 2:4
      {{9, 2, 3, 3, 2}, 8, 12, {3, 6}},   // 3-D conv, 3-bit indices across bytes, 3:6 (5-bit patterns)
      {{1, 32}, 65536, 16, {2, 8}},       // one row, 16-bit indices, 2:8
      {{4, 8}, 4, 4, {4, 4}},             // N = M: one pattern, 0-bit pattern masks
  };
  auto dir = mvq_test::scratch_dir("format_roundtrip");
  std::uint32_t seed = 1;
  for (auto cb : {codebook_dtype::f32, codebook_dtype::f16, codebook_dtype::i8}) {
    for (auto enc : {mask_encoding::bitmap, mask_encoding::pattern}) {
      for (auto order : {reduction_order::oihw, reduction_order::ohwi}) {
        mvq_writer w;
        REQUIRE(w.set_metadata("source", "unit test"));
        REQUIRE(w.set_metadata("layer_0", R"({"op": "Conv", "group": 1})"));
        std::vector<compressed_matrix> mats;
        std::vector<mvq_layer_info> infos;
        for (std::size_t i = 0; i < cases.size(); ++i) {
          auto const& c = cases[i];
          auto rc = matrix_shape(c.shape, "t").value();
          compressed_layout l{rc.first, rc.second, {c.k, static_cast<std::uint8_t>(c.d)}, c.nm, order,
                              c.nm.dense() ? mask_encoding::none : enc, cb};
          mats.push_back(random_matrix(l, seed++));
          infos.push_back({"layer_" + std::to_string(i), c.nm.dense() ? "kmeans" : "mvq", c.shape});
          REQUIRE(w.add_layer(infos.back(), mats.back().view()));
        }
        std::vector<float> bias{1.5f, -2.0f, 0.25f};
        std::vector<std::byte> ints{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
        REQUIRE(w.add_tensor("bias", dtype::f32, {3}, bytes_of(bias)));
        REQUIRE(w.add_tensor("ids", dtype::i16, {2}, ints));
        auto path = dir / ("rt_" + std::string(to_string(cb)) + to_string(enc) + std::string(to_string(order)) +
                           ".mvq.safetensors");
        REQUIRE(w.write(path));

        for (auto mode : {open_mode::map, open_mode::read}) {
          auto f = mvq_file::open(path, mode);
          INFO(to_string(cb) << " " << to_string(enc) << " " << to_string(order));
          REQUIRE(f);
          REQUIRE(f->layers().size() == cases.size());
          for (std::size_t i = 0; i < cases.size(); ++i) {
            const mvq_layer* L = f->find(infos[i].name);
            REQUIRE(L);
            auto const& m = mats[i];
            CHECK(L->info.method == infos[i].method);
            CHECK(L->info.shape == infos[i].shape);
            CHECK(L->layout.order == order);
            CHECK(L->layout == m.layout);
            CHECK(L->codebook == m.codebook);
            CHECK(L->codebook_i8 == m.codebook_i8);
            CHECK(L->codebook_scale == m.codebook_scale);
            CHECK(std::vector<std::uint8_t>(L->indices.begin(), L->indices.end()) == m.indices);
            CHECK(std::vector<std::uint8_t>(L->masks.begin(), L->masks.end()) == m.masks);
            auto owned = L->to_matrix();
            CHECK(owned.indices == m.indices);
            CHECK(decompress(owned.view()) == decompress(m.view()));
            // The dense weight, back in the tensor's own order.
            CHECK(L->decompress_dense() == from_reduction_order(decompress(m.view()), infos[i].shape, order));
          }
          REQUIRE(f->dense_tensors().size() == 2);
          auto const* bt = f->file().find("bias");
          REQUIRE(bt);
          CHECK(bt->type == dtype::f32);
          CHECK(f->file().read_f32("bias").value() == bias);
          auto const* it = f->file().find("ids");
          REQUIRE(it);
          CHECK(it->type == dtype::i16);
          auto raw = f->file().data(*it);
          CHECK(std::vector<std::byte>(raw.begin(), raw.end()) == ints);
          auto md = f->user_metadata();
          CHECK(md == std::map<std::string, std::string>{{"source", "unit test"},
                                                         {"layer_0", R"({"op": "Conv", "group": 1})"}});
          CHECK(f->file().metadata().at("mvq_format") == "1");
        }
      }
    }
  }
}

TEST_CASE("format writer rejects inconsistent layers and reserved names", "[format]") {
  compressed_layout l{.rows = 4, .cols = 16, .vq = {16, 8}, .nm = {2, 4}, .masks = mask_encoding::pattern};
  auto m = random_matrix(l, 3);
  mvq_writer w;
  CHECK_FALSE(w.set_metadata("mvq_format", "1"));
  CHECK_FALSE(w.set_metadata("mvq:x", "{}"));
  CHECK_FALSE(w.add_layer({"x", "mvq", {4, 15}}, m.view()));    // shape ≠ matrix
  CHECK_FALSE(w.add_layer({"x", "kmeans", {4, 16}}, m.view()));  // kmeans is dense
  CHECK_FALSE(w.add_layer({"x", "mvq", {4}}, m.view()));        // 1 dim
  auto bad = m;
  bad.masks[0] = 0xff;  // pattern 7 ≥ C(4,2)
  CHECK_FALSE(w.add_layer({"x", "mvq", {4, 16}}, bad.view()));
  REQUIRE(w.add_layer({"x", "mvq", {4, 2, 8}}, m.view()));
  std::vector<std::byte> b(4);
  CHECK_FALSE(w.add_tensor("x", dtype::f32, {1}, b));
  CHECK_FALSE(w.add_tensor("x.codebook_scale", dtype::f32, {1}, b));
  CHECK_FALSE(w.add_layer({"x", "mvq", {4, 16}}, m.view()));
  CHECK(w.add_tensor("y", dtype::f32, {1}, b));
}

namespace {

// A hand-built file spec (not produced by mvq_writer) that a test mutates into corrupt variants.
struct raw_tensor {
  dtype type;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> data;
};
struct file_spec {
  std::map<std::string, std::string> metadata;
  std::map<std::string, raw_tensor> tensors;
};

nlohmann::ordered_json good_meta() {
  return nlohmann::ordered_json::parse(
      R"({"method":"mvq","k":4,"d":4,"n":2,"m":4,"shape":[2,8],"layout":"oihw","index_bits":2,)"
      R"("mask_encoding":"pattern","codebook_dtype":"f32"})");
}

// Layer "w": K = 4, d = 4, 2:4 pattern masks, 2 × 8 (2 sub-vectors, 2 groups per row).
file_spec good_spec(nlohmann::ordered_json meta = good_meta()) {
  file_spec s;
  s.metadata["mvq_format"] = "1";
  s.metadata["mvq:w"] = meta.dump();
  std::vector<float> cb(16);
  for (std::size_t i = 0; i < cb.size(); ++i) cb[i] = 0.5f * static_cast<float>(i) - 3.0f;
  s.tensors["w.codebook"] = {dtype::f32, {4, 4}, bytes_of(cb)};
  s.tensors["w.indices"] = {dtype::u8, {2, 1}, {std::byte{0x09}, std::byte{0x0e}}};        // 2-bit indices
  s.tensors["w.mask"] = {dtype::u8, {2, 1}, {std::byte{0x2c}, std::byte{0x05}}};           // 3-bit ranks ≤ 5
  s.tensors["bias"] = {dtype::f32, {1}, bytes_of(std::vector<float>{1.0f})};
  return s;
}

result<mvq_file> open_spec(file_spec const& s, std::filesystem::path const& path) {
  safetensors_writer w;
  for (auto const& [k, v] : s.metadata) w.set_metadata(k, v);
  for (auto const& [n, t] : s.tensors) REQUIRE(w.add(n, t.type, t.shape, t.data));
  REQUIRE(w.write(path));
  return mvq_file::open(path);
}

}  // namespace

TEST_CASE("corrupt .mvq.safetensors files are rejected with a message naming file, layer and problem", "[format]") {
  auto dir = mvq_test::scratch_dir("format_corrupt");
  auto path = dir / "c.mvq.safetensors";
  {
    auto f = open_spec(good_spec(), path);
    REQUIRE(f);  // the unmodified spec is valid, so every rejection below is caused by its mutation
    REQUIRE(f->layers().size() == 1);
    // rank 4 = {1,3}, rank 5 = {2,3}; 0x2c = 0b101100: ranks 4, 5 in row 0
    auto dense = f->layers()[0].decompress_dense();
    CHECK(dense[1] == -3.0f + 0.5f * 5);   // row 0, sub-vector 0 → index 1, kept position 1
    CHECK(dense[0] == 0.0f);
  }
  struct mutation {
    const char* name;
    std::function<void(file_spec&)> apply;
    const char* expect;  // a fragment of the error message
  };
  auto meta_with = [](const char* key, nlohmann::ordered_json v) {
    return [=](file_spec& s) {
      auto m = good_meta();
      if (v.is_discarded()) m.erase(key);
      else m[key] = v;
      s.metadata["mvq:w"] = m.dump();
    };
  };
  const nlohmann::ordered_json erase(nlohmann::ordered_json::value_t::discarded);
  const std::vector<mutation> muts{
      {"no version", [](file_spec& s) { s.metadata.erase("mvq_format"); }, "not a .mvq.safetensors file"},
      {"version 2", [](file_spec& s) { s.metadata["mvq_format"] = "2"; }, "version \"2\""},
      {"not JSON", [](file_spec& s) { s.metadata["mvq:w"] = "{\"k\":"; }, "not a JSON object"},
      {"JSON array", [](file_spec& s) { s.metadata["mvq:w"] = "[1,2]"; }, "not a JSON object"},
      {"missing k", meta_with("k", erase), "no \"k\""},
      {"k string", meta_with("k", "4"), "\"k\" must be an integer"},
      {"k not a power of two", meta_with("k", 6), "power of two"},
      {"k too large", meta_with("k", 131072), "\"k\" must be an integer"},
      {"index_bits wrong", meta_with("index_bits", 3), "index_bits = 3"},
      {"d zero", meta_with("d", 0), "subvector_dim"},
      {"d not dividing the row", meta_with("d", 3), "multiple of M"},
      {"d = 16 not dividing the row of 8", [](file_spec& s) {
         auto m = good_meta(); m["d"] = 16; s.metadata["mvq:w"] = m.dump(); }, "not a multiple of d = 16"},
      {"n > m", meta_with("n", 5), "N must not exceed M"},
      {"mvq but dense", [](file_spec& s) {
         auto m = good_meta(); m["n"] = 0; m["m"] = 0; s.metadata["mvq:w"] = m.dump(); }, "needs an N:M pattern"},
      {"unknown method", meta_with("method", "pq"), "method 'pq'"},
      {"mask_encoding none with 2:4", meta_with("mask_encoding", "none"), "does not fit"},
      {"mask_encoding unknown", meta_with("mask_encoding", "rle"), "mask_encoding 'rle'"},
      {"layout unknown", meta_with("layout", "hwio"), "layout 'hwio'"},
      {"codebook_dtype unknown", meta_with("codebook_dtype", "f8"), "codebook_dtype 'f8'"},
      {"shape 1-D", meta_with("shape", nlohmann::ordered_json::array({16})), "at least 2 dims"},
      {"shape with 0", meta_with("shape", nlohmann::ordered_json::array({0, 8})), "positive integers"},
      {"shape not matching tensors", meta_with("shape", nlohmann::ordered_json::array({3, 8})), "'w.indices' has shape"},
      {"shape overflow", meta_with("shape", nlohmann::ordered_json::array({1ull << 40, 1ull << 40})), "overflow"},
      {"codebook missing", [](file_spec& s) { s.tensors.erase("w.codebook"); }, "'w.codebook' is missing"},
      {"codebook wrong shape", [](file_spec& s) { s.tensors["w.codebook"].shape = {8, 2}; }, "'w.codebook' has shape"},
      {"codebook wrong dtype", [](file_spec& s) { s.tensors["w.codebook"].type = dtype::i32; }, "has dtype I32"},
      {"codebook NaN", [](file_spec& s) {
         float nan = std::numeric_limits<float>::quiet_NaN();
         std::memcpy(s.tensors["w.codebook"].data.data() + 8, &nan, 4); }, "codebook entry 2 is not finite"},
      {"indices wrong shape", [](file_spec& s) { s.tensors["w.indices"] = {dtype::u8, {1, 2}, s.tensors["w.indices"].data}; },
       "'w.indices' has shape"},
      {"indices wrong dtype", [](file_spec& s) { s.tensors["w.indices"].type = dtype::i8; }, "has dtype I8"},
      {"mask missing", [](file_spec& s) { s.tensors.erase("w.mask"); }, "'w.mask' is missing"},
      {"pattern index 6", [](file_spec& s) { s.tensors["w.mask"].data[1] = std::byte{0x06}; }, "not a valid pattern index"},
      {"pattern index 7", [](file_spec& s) { s.tensors["w.mask"].data[0] = std::byte{0x38}; }, "not a valid pattern index"},
      {"stray scale", [](file_spec& s) { s.tensors["w.codebook_scale"] = {dtype::f32, {1}, bytes_of(std::vector<float>{1.0f})}; },
       "unexpected tensor 'w.codebook_scale'"},
      {"dense tensor named like the layer", [](file_spec& s) { s.tensors["w"] = s.tensors["bias"]; }, "layer's own name"},
  };
  for (auto const& mu : muts) {
    INFO(mu.name);
    auto s = good_spec();
    mu.apply(s);
    auto f = open_spec(s, path);
    REQUIRE_FALSE(f);
    INFO(f.error().what());
    CHECK(f.error().message.find(mu.expect) != std::string::npos);
    CHECK(f.error().message.find(path.string()) != std::string::npos);
    if (std::string(mu.name) != "no version" && std::string(mu.name) != "version 2")
      CHECK(f.error().message.find("layer 'w'") != std::string::npos);
  }
}

TEST_CASE("corrupt int8 and bitmap layers are rejected", "[format]") {
  auto dir = mvq_test::scratch_dir("format_corrupt_i8");
  auto path = dir / "c.mvq.safetensors";
  auto meta = good_meta();
  meta["codebook_dtype"] = "i8";
  meta["mask_encoding"] = "bitmap";
  auto base = [&] {
    auto s = good_spec(meta);
    std::vector<std::byte> q(16);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = static_cast<std::byte>(static_cast<std::int8_t>(3 * i - 20));
    s.tensors["w.codebook"] = {dtype::i8, {4, 4}, q};
    s.tensors["w.codebook_scale"] = {dtype::f32, {1}, bytes_of(std::vector<float>{0.25f})};
    s.tensors["w.mask"] = {dtype::u8, {2, 1}, {std::byte{0x5a}, std::byte{0x13}}};  // bitmaps 1010 0101, 0011 0001
    return s;
  };
  {
    auto f = open_spec(base(), path);
    REQUIRE(f);
    auto const& L = f->layers()[0];
    CHECK(L.codebook_scale == 0.25f);
    CHECK(L.codebook[1] == static_cast<float>(-17) * 0.25f);
    auto dense = L.decompress_dense();
    // row 0: indices 0x09 = 1, 2; group 0 bitmap 1010 keeps columns 1 and 3
    CHECK(dense[0] == 0.0f);
    CHECK(dense[1] == static_cast<float>(3 * 5 - 20) * 0.25f);
    CHECK(dense[3] == static_cast<float>(3 * 7 - 20) * 0.25f);
  }
  struct mutation {
    const char* name;
    std::function<void(file_spec&)> apply;
    const char* expect;
  };
  const std::vector<mutation> muts{
      {"scale missing", [](file_spec& s) { s.tensors.erase("w.codebook_scale"); }, "'w.codebook_scale' is missing"},
      {"scale negative", [](file_spec& s) { s.tensors["w.codebook_scale"].data = bytes_of(std::vector<float>{-1.0f}); },
       "not finite and positive"},
      {"scale inf", [](file_spec& s) {
         s.tensors["w.codebook_scale"].data = bytes_of(std::vector<float>{std::numeric_limits<float>::infinity()}); },
       "not finite and positive"},
      {"scale shape", [](file_spec& s) { s.tensors["w.codebook_scale"].shape = {1, 1}; }, "has shape"},
      {"int8 -128", [](file_spec& s) { s.tensors["w.codebook"].data[5] = std::byte{0x80}; }, "is -128"},
      {"bitmap keeps 3 of 4", [](file_spec& s) { s.tensors["w.mask"].data[1] = std::byte{0x17}; }, "keeps more than N"},
      {"codebook as F32", [](file_spec& s) { s.tensors["w.codebook"] = {dtype::f32, {4, 1}, s.tensors["w.codebook"].data}; },
       "has dtype F32"},
  };
  for (auto const& mu : muts) {
    INFO(mu.name);
    auto s = base();
    mu.apply(s);
    auto f = open_spec(s, path);
    REQUIRE_FALSE(f);
    INFO(f.error().what());
    CHECK(f.error().message.find(mu.expect) != std::string::npos);
  }
}

namespace {

// A random valid scalar matrix: random codes, positive scales, zero points < 2^bits when affine.
scalar_matrix random_scalar(scalar_layout l, std::uint32_t seed) {
  std::mt19937 rng(seed);
  auto m = scalar_matrix::allocate(l).value();
  for (std::size_t r = 0; r < l.rows; ++r) {
    auto row = std::span(m.codes).subspan(r * l.code_bytes_per_row(), l.code_bytes_per_row());
    for (std::size_t c = 0; c < l.cols; ++c) write_bits(row, c, l.bits, static_cast<std::uint32_t>(rng() % (l.max_code() + 1)));
  }
  for (auto& s : m.scales) s = 0.001f * static_cast<float>(1 + rng() % 1000);
  for (auto& z : m.zeros) z = static_cast<std::uint8_t>(rng() % (l.max_code() + 1));
  REQUIRE(validate(m.view()));
  return m;
}

}  // namespace

TEST_CASE("scalar layer metadata JSON names its kind and every parameter", "[format]") {
  scalar_layout l{.rows = 8, .cols = 96, .bits = 3, .group = 32, .symmetric = false, .order = reduction_order::ohwi};
  mvq_layer_info info{"conv", "gptq", {8, 6, 4, 4}};
  CHECK(scalar_layer_metadata_json(info, l) ==
        R"({"kind":"scalar","method":"gptq","bits":3,"group":32,"symmetric":false,"shape":[8,6,4,4],"layout":"ohwi"})");
  auto back = parse_scalar_layer_metadata("conv", scalar_layer_metadata_json(info, l), "x");
  REQUIRE(back);
  CHECK(back->second == l);
  CHECK(back->first.shape == info.shape);
  CHECK(back->first.method == "gptq");
  CHECK(parse_layer_kind(scalar_layer_metadata_json(info, l), "x").value() == layer_kind::scalar);
  // Files written before scalar layers existed carry no "kind": VQ.
  CHECK(parse_layer_kind(R"({"method":"mvq"})", "x").value() == layer_kind::vq);
  CHECK(parse_layer_kind(R"({"kind":"vq"})", "x").value() == layer_kind::vq);
  CHECK_FALSE(parse_layer_kind(R"({"kind":"pq"})", "x"));
  CHECK_FALSE(parse_layer_kind(R"({"kind":3})", "x"));
}

TEST_CASE("format round trip: scalar layers of every width next to VQ layers and dense tensors", "[format]") {
  struct scalar_case {
    std::vector<std::uint64_t> shape;
    unsigned bits;
    std::uint32_t group;
    bool symmetric;
  };
  const std::vector<scalar_case> cases{
      {{5, 3, 3, 3}, 2, 0, true},    // conv, 27 columns: 54 bits → 7 bytes per row, one scale per row
      {{7, 13}, 3, 0, false},        // odd row, 3-bit codes across bytes, affine
      {{4, 64}, 4, 32, true},        // two nibbles per byte, 2 groups
      {{3, 2, 5, 1}, 5, 5, false},   // conv, groups of 5
      {{6, 48}, 6, 16, false},
      {{2, 9}, 7, 3, true},
      {{9, 32}, 8, 8, false},        // one byte per code
  };
  auto dir = mvq_test::scratch_dir("format_scalar");
  std::uint32_t seed = 100;
  for (auto order : {reduction_order::oihw, reduction_order::ohwi}) {
    mvq_writer w;
    REQUIRE(w.set_metadata("source", "scalar test"));
    std::vector<scalar_matrix> mats;
    std::vector<mvq_layer_info> infos;
    for (std::size_t i = 0; i < cases.size(); ++i) {
      auto const& c = cases[i];
      auto rc = matrix_shape(c.shape, "t").value();
      scalar_layout l{rc.first, rc.second, static_cast<std::uint8_t>(c.bits), c.group, c.symmetric, order};
      mats.push_back(random_scalar(l, seed++));
      infos.push_back({"s" + std::to_string(i), i % 2 ? "rtn" : "gptq", c.shape});
      REQUIRE(w.add_scalar_layer(infos.back(), mats.back().view()));
    }
    compressed_layout vl{.rows = 4, .cols = 16, .vq = {16, 8}, .order = order};
    auto vq = random_matrix(vl, seed++);
    REQUIRE(w.add_layer({"vq", "kmeans", {4, 16}}, vq.view()));
    std::vector<float> bias{1.5f, -2.0f};
    REQUIRE(w.add_tensor("bias", dtype::f32, {2}, bytes_of(bias)));
    auto path = dir / ("scalar_" + std::string(to_string(order)) + ".mvq.safetensors");
    REQUIRE(w.write(path));
    for (auto mode : {open_mode::map, open_mode::read}) {
      auto f = mvq_file::open(path, mode);
      REQUIRE(f);
      REQUIRE(f->scalar_layers().size() == cases.size());
      REQUIRE(f->layers().size() == 1);
      REQUIRE(f->dense_tensors().size() == 1);
      for (std::size_t i = 0; i < cases.size(); ++i) {
        INFO("layer " << i);
        CHECK(f->scalar_layers()[i].info.name == infos[i].name);  // file order
        const mvq_scalar_layer* L = f->find_scalar(infos[i].name);
        REQUIRE(L);
        CHECK(f->find(infos[i].name) == nullptr);
        CHECK(L->info.method == infos[i].method);
        CHECK(L->info.shape == infos[i].shape);
        CHECK(L->layout == mats[i].layout);
        CHECK(std::vector<std::uint8_t>(L->codes.begin(), L->codes.end()) == mats[i].codes);
        CHECK(L->scales == mats[i].scales);
        CHECK(std::vector<std::uint8_t>(L->zeros.begin(), L->zeros.end()) == mats[i].zeros);
        CHECK(L->to_matrix().codes == mats[i].codes);
        auto dense = from_reduction_order(decompress(mats[i].view()), infos[i].shape, order);
        CHECK(L->decompress_dense() == dense);
        CHECK(f->decompress_dense(infos[i].name).value() == dense);
      }
      CHECK(f->decompress_dense("vq").value() == decompress(vq.view()));
      auto missing = f->decompress_dense("nope");
      REQUIRE_FALSE(missing);
      CHECK(missing.error().code == errc::not_found);
      CHECK(f->user_metadata() == std::map<std::string, std::string>{{"source", "scalar test"}});
    }
  }
}

TEST_CASE("format writer rejects inconsistent scalar layers", "[format]") {
  scalar_layout l{.rows = 4, .cols = 16, .bits = 3, .group = 8, .symmetric = false};
  auto m = random_scalar(l, 9);
  mvq_writer w;
  CHECK_FALSE(w.add_scalar_layer({"x", "mvq", {4, 16}}, m.view()));    // not a scalar method
  CHECK_FALSE(w.add_scalar_layer({"x", "gptq", {4, 15}}, m.view()));   // shape ≠ matrix
  CHECK_FALSE(w.add_scalar_layer({"x", "gptq", {64}}, m.view()));      // 1 dim
  auto bad = m;
  bad.zeros[3] = 8;  // ≥ 2^3
  CHECK_FALSE(w.add_scalar_layer({"x", "gptq", {4, 16}}, bad.view()));
  bad = m;
  bad.scales.pop_back();
  CHECK_FALSE(w.add_scalar_layer({"x", "gptq", {4, 16}}, bad.view()));
  REQUIRE(w.add_scalar_layer({"x", "gptq", {4, 2, 8}}, m.view()));
  std::vector<std::byte> b(4);
  CHECK_FALSE(w.add_tensor("x.zeros", dtype::f32, {1}, b));
  CHECK_FALSE(w.add_scalar_layer({"x", "rtn", {4, 16}}, m.view()));
  CHECK_FALSE(w.add_layer({"x", "kmeans", {4, 16}}, random_matrix({.rows = 4, .cols = 16, .vq = {16, 8}}, 1).view()));
}

namespace {

nlohmann::ordered_json good_scalar_meta() {
  return nlohmann::ordered_json::parse(
      R"({"kind":"scalar","method":"gptq","bits":3,"group":4,"symmetric":false,"shape":[2,8],"layout":"oihw"})");
}

// Layer "s": 3-bit affine codes, groups of 4, 2 × 8: 3 code bytes per row, 2 scales and zero points per row.
file_spec good_scalar_spec(nlohmann::ordered_json meta = good_scalar_meta()) {
  file_spec s;
  s.metadata["mvq_format"] = "1";
  s.metadata["mvq:s"] = meta.dump();
  // row 0 codes 0..7 (3 bits each, LSB first): 0x88 0xC6 0xFA; row 1 all 7s: 0xFF 0xFF 0xFF
  s.tensors["s.codes"] = {dtype::u8, {2, 3},
                          {std::byte{0x88}, std::byte{0xC6}, std::byte{0xFA}, std::byte{0xFF}, std::byte{0xFF},
                           std::byte{0xFF}}};
  s.tensors["s.scales"] = {dtype::f32, {2, 2}, bytes_of(std::vector<float>{0.5f, 0.25f, 1.0f, 2.0f})};
  s.tensors["s.zeros"] = {dtype::u8, {2, 2}, {std::byte{4}, std::byte{0}, std::byte{7}, std::byte{3}}};
  s.tensors["bias"] = {dtype::f32, {1}, bytes_of(std::vector<float>{1.0f})};
  return s;
}

}  // namespace

TEST_CASE("corrupt scalar layers are rejected with a message naming file, layer, tensor and problem", "[format]") {
  auto dir = mvq_test::scratch_dir("format_corrupt_scalar");
  auto path = dir / "s.mvq.safetensors";
  {
    auto f = open_spec(good_scalar_spec(), path);
    REQUIRE(f);  // the unmodified spec is valid, so every rejection below is caused by its mutation
    REQUIRE(f->scalar_layers().size() == 1);
    REQUIRE(f->layers().empty());
    // row 0: codes 0..7; group 0 (scale 0.5, zero 4), group 1 (scale 0.25, zero 0); row 1: codes 7, zeros 7 and 3
    CHECK(f->scalar_layers()[0].decompress_dense() ==
          std::vector<float>{-2.0f, -1.5f, -1.0f, -0.5f, 1.0f, 1.25f, 1.5f, 1.75f, 0, 0, 0, 0, 8, 8, 8, 8});
  }
  struct mutation {
    const char* name;
    std::function<void(file_spec&)> apply;
    const char* expect;
  };
  auto meta_with = [](const char* key, nlohmann::ordered_json v) {
    return [=](file_spec& s) {
      auto m = good_scalar_meta();
      if (v.is_discarded()) m.erase(key);
      else m[key] = v;
      s.metadata["mvq:s"] = m.dump();
    };
  };
  const nlohmann::ordered_json erase(nlohmann::ordered_json::value_t::discarded);
  const std::vector<mutation> muts{
      {"kind unknown", meta_with("kind", "pq"), "\"kind\" must be \"vq\" or \"scalar\""},
      {"bits 9", meta_with("bits", 9), "\"bits\" must be an integer in [2, 8]"},
      {"bits 1", meta_with("bits", 1), "\"bits\" must be an integer in [2, 8]"},
      {"bits missing", meta_with("bits", erase), "no \"bits\""},
      {"bits string", meta_with("bits", "3"), "\"bits\" must be an integer"},
      {"group not dividing", meta_with("group", 3), "group of 3 columns does not divide the row length 8"},
      {"group negative", meta_with("group", -4), "\"group\" must be an integer"},
      {"symmetric missing", meta_with("symmetric", erase), "no \"symmetric\""},
      {"symmetric not bool", meta_with("symmetric", 1), "\"symmetric\" must be true or false"},
      {"method kmeans", meta_with("method", "kmeans"), "method 'kmeans' is not \"gptq\" or \"rtn\""},
      {"layout unknown", meta_with("layout", "hwio"), "layout 'hwio'"},
      {"shape 1-D", meta_with("shape", nlohmann::ordered_json::array({16})), "at least 2 dims"},
      {"shape not matching", meta_with("shape", nlohmann::ordered_json::array({2, 12})), "'s.codes' has shape"},
      {"shape overflow", meta_with("shape", nlohmann::ordered_json::array({1ull << 40, 1ull << 40})), "overflow"},
      {"codes truncated", [](file_spec& s) {
         auto& t = s.tensors["s.codes"]; t.shape = {2, 2}; t.data.resize(4); }, "'s.codes' has shape [2, 2]"},
      {"codes missing", [](file_spec& s) { s.tensors.erase("s.codes"); }, "'s.codes' is missing"},
      {"codes wrong dtype", [](file_spec& s) { s.tensors["s.codes"].type = dtype::i8; }, "has dtype I8"},
      {"scales wrong shape", [](file_spec& s) { s.tensors["s.scales"].shape = {4}; }, "'s.scales' has shape [4]"},
      {"scales one per row", [](file_spec& s) {
         s.tensors["s.scales"] = {dtype::f32, {2, 1}, bytes_of(std::vector<float>{1.0f, 1.0f})}; },
       "'s.scales' has shape [2, 1]"},
      {"scales F16", [](file_spec& s) {
         auto& t = s.tensors["s.scales"]; t.type = dtype::f16; t.data.resize(8); }, "has dtype F16"},
      {"scale NaN", [](file_spec& s) {
         s.tensors["s.scales"].data = bytes_of(std::vector<float>{0.5f, std::nanf(""), 1.0f, 2.0f}); },
       "'s.scales' entry 1 (row 0, group 1)"},
      {"scale zero", [](file_spec& s) {
         s.tensors["s.scales"].data = bytes_of(std::vector<float>{0.5f, 0.25f, 0.0f, 2.0f}); },
       "not finite and positive"},
      {"scale negative", [](file_spec& s) {
         s.tensors["s.scales"].data = bytes_of(std::vector<float>{0.5f, 0.25f, 1.0f, -2.0f}); },
       "not finite and positive"},
      {"zero 8 at 3 bits", [](file_spec& s) { s.tensors["s.zeros"].data[2] = std::byte{8}; },
       "'s.zeros' entry 2 is 8, not below 2^bits = 8"},
      {"zeros missing", [](file_spec& s) { s.tensors.erase("s.zeros"); }, "'s.zeros' is missing"},
      {"zeros wrong shape", [](file_spec& s) { s.tensors["s.zeros"].shape = {1, 4}; }, "'s.zeros' has shape"},
      {"stray zeros when symmetric", meta_with("symmetric", true), "unexpected tensor 's.zeros'"},
      {"dense tensor named like the layer", [](file_spec& s) { s.tensors["s"] = s.tensors["bias"]; }, "layer's own name"},
  };
  for (auto const& mu : muts) {
    INFO(mu.name);
    auto s = good_scalar_spec();
    mu.apply(s);
    auto f = open_spec(s, path);
    REQUIRE_FALSE(f);
    INFO(f.error().what());
    CHECK(f.error().message.find(mu.expect) != std::string::npos);
    CHECK(f.error().message.find(path.string()) != std::string::npos);
    CHECK(f.error().message.find("layer 's'") != std::string::npos);
  }
  // A file cut short inside the codes: the safetensors reader refuses it before any layer is read.
  {
    auto good = good_scalar_spec();
    REQUIRE(open_spec(good, path));
    std::ifstream in(path, std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> bytes(raw.size());
    std::memcpy(bytes.data(), raw.data(), raw.size());
    REQUIRE(bytes.size() > 8);
    bytes.resize(bytes.size() - 5);
    auto st = safetensors_file::from_bytes(std::move(bytes), "cut.mvq.safetensors");
    CHECK_FALSE(st);
  }
}
