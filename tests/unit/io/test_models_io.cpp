// Reads the real pretrained weights of the shared model folder (skipped when it is absent).
#include <cstring>

#include "io_test_util.hpp"
#include "models.hpp"
#include "mvq/io/safetensors.hpp"

#include <nlohmann/json.hpp>

using namespace mvq;

namespace {

struct model_facts {
  const char* file;
  std::size_t tensors;
  std::uint64_t weights;  // the counts listed in the model folder's README
};

}  // namespace

TEST_CASE("models: tensor and weight counts match the model README", "[io][models]") {
  for (auto m : {model_facts{"ppocr_det.safetensors", 64, 1'164'320}, model_facts{"ppocr_cls.safetensors", 54, 124'072},
                 model_facts{"faceapi_resnet34.safetensors", 30, 5'603'936}}) {
    INFO(m.file);
    auto f = io::safetensors_file::open(mvq_test::models_dir() / m.file);
    INFO((f ? std::string() : f.error().what()));
    REQUIRE(f);
    CHECK(f->tensors().size() == m.tensors);
    std::uint64_t weights = 0;
    for (const auto& t : f->tensors()) {
      weights += t.elements();
      CHECK(t.type == io::dtype::f32);
      // Every tensor has a metadata entry (JSON for ppocr, the quantization note for faceapi).
      CHECK(f->metadata().count(t.name) == 1);
    }
    CHECK(weights == m.weights);
    CHECK(f->metadata().count("source") == 1);
  }
}

TEST_CASE("models: ppocr_det layers and their metadata", "[io][models]") {
  auto f = io::safetensors_file::open(mvq_test::models_dir() / "ppocr_det.safetensors").value();
  const auto* first = f.find("000_conv");
  REQUIRE(first != nullptr);
  CHECK(first->shape == std::vector<std::uint64_t>{16, 3, 3, 3});
  CHECK(first->begin == 0);
  CHECK(first->end == 1728);
  const auto* dw = f.find("001_conv");
  REQUIRE(dw != nullptr);
  CHECK(dw->shape == std::vector<std::uint64_t>{16, 1, 3, 3});
  auto meta = nlohmann::json::parse(f.metadata().at("001_conv"), nullptr, false);
  REQUIRE(meta.is_object());
  CHECK(meta["op"] == "Conv");
  CHECK(meta["group"] == 16);  // depthwise: group == channels
  CHECK(f.metadata().at("source") == "ch_PP-OCRv4_det_infer.onnx");
}

TEST_CASE("models: map and read modes agree, read_f32 equals the raw bytes", "[io][models]") {
  for (const char* file : {"ppocr_det.safetensors", "faceapi_resnet34.safetensors"}) {
    INFO(file);
    auto mapped = io::safetensors_file::open(mvq_test::models_dir() / file, io::open_mode::map).value();
    auto read = io::safetensors_file::open(mvq_test::models_dir() / file, io::open_mode::read).value();
    REQUIRE(mapped.tensors().size() == read.tensors().size());
    CHECK(mapped.metadata() == read.metadata());
    for (std::size_t i = 0; i < mapped.tensors().size(); ++i) {
      const auto& t = mapped.tensors()[i];
      CHECK(t.name == read.tensors()[i].name);
      const auto a = mapped.data(t), b = read.data(read.tensors()[i]);
      REQUIRE(a.size() == b.size());
      CHECK(std::memcmp(a.data(), b.data(), a.size()) == 0);
      auto v = mapped.read_f32(t.name).value();
      REQUIRE(v.size() * 4 == a.size());
      CHECK(std::memcmp(v.data(), a.data(), a.size()) == 0);  // F32 on a little-endian host: the same bytes
    }
  }
}

TEST_CASE("models: rewriting a real file reproduces every tensor and the metadata", "[io][models]") {
  auto f = io::safetensors_file::open(mvq_test::models_dir() / "faceapi_resnet34.safetensors").value();
  io::safetensors_writer w;
  for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);
  for (const auto& t : f.tensors()) REQUIRE(w.add(t.name, t.type, t.shape, f.data(t)));
  const auto dir = mvq_test::scratch_dir("io_models");
  REQUIRE(w.write(dir / "copy.safetensors"));
  auto g = io::safetensors_file::open(dir / "copy.safetensors").value();
  CHECK(g.metadata() == f.metadata());
  REQUIRE(g.tensors().size() == f.tensors().size());
  for (const auto& t : f.tensors()) {
    const auto* u = g.find(t.name);
    REQUIRE(u != nullptr);
    CHECK(u->shape == t.shape);
    const auto a = f.data(t), b = g.data(*u);
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.data(), b.data(), a.size()) == 0);
  }
  std::filesystem::remove_all(dir);
}
