// quant::compress → mvq_writer → file → mvq_file: the stored layer decodes to exactly the in-memory
// reconstruction, for both methods, every codebook dtype and both reduction orders.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "models.hpp"
#include "mvq/io/mvq_format.hpp"
#include "mvq/quant/compress.hpp"

using namespace mvq;

TEST_CASE("decompress(compress(W)) read back from the file equals the in-memory reconstruction bit for bit",
          "[format][quant]") {
  auto dir = mvq_test::scratch_dir("format_compress");
  std::mt19937 rng(42);
  std::normal_distribution<float> g(0.0f, 0.5f);
  const std::vector<std::uint64_t> shape{24, 6, 3, 3};  // 24 × 54, d = 6 (M = 3 for 2:3 and 1:3)
  std::vector<float> w(24 * 54);
  for (auto& v : w) v = g(rng);
  struct cfg {
    quant::method method;
    nm_pattern nm;
    mask_encoding masks;
  };
  for (auto c : {cfg{quant::method::kmeans, {}, mask_encoding::none}, cfg{quant::method::mvq, {2, 3}, mask_encoding::pattern},
                 cfg{quant::method::mvq, {1, 3}, mask_encoding::bitmap}}) {
    for (auto cb : {codebook_dtype::f32, codebook_dtype::f16, codebook_dtype::i8}) {
      for (auto order : {reduction_order::oihw, reduction_order::ohwi}) {
        INFO(quant::to_string(c.method) << " " << to_string(c.nm) << " " << to_string(cb) << " " << to_string(order));
        quant::compress_options o;
        o.method = c.method;
        o.vq = {32, 6};
        o.order = order;
        o.nm = c.nm;
        o.masks = c.masks;
        o.codebook = cb;
        o.seed = 9;
        auto wr = io::to_reduction_order(w, shape, order);
        auto cm = quant::compress(matrix_view<const float>(wr.data(), 24, 54), o).value();
        io::mvq_writer writer;
        io::mvq_layer_info info{"w", quant::to_string(c.method), shape};
        REQUIRE(writer.add_layer(info, cm.view()));
        auto path = dir / "w.mvq.safetensors";
        REQUIRE(writer.write(path));
        auto f = io::mvq_file::open(path).value();
        REQUIRE(f.layers().size() == 1);
        auto got = f.layers()[0].decompress_dense();
        auto expect = io::from_reduction_order(decompress(cm.view()), shape, order);
        REQUIRE(got.size() == expect.size());
        CHECK(std::memcmp(got.data(), expect.data(), got.size() * sizeof(float)) == 0);
        CHECK(f.layers()[0].layout == cm.layout);
        if (!c.nm.dense()) {  // pruned positions are exactly zero: at least (M−N)/M of the weights
          std::size_t zeros = 0;
          for (float v : got) zeros += v == 0.0f;
          CHECK(zeros * c.nm.m >= got.size() * (c.nm.m - c.nm.n));
        }
      }
    }
  }
}
