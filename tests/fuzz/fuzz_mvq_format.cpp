// libFuzzer target for the .mvq.safetensors reader: any input either fails with an error naming the file, or yields
// layers that decode without touching memory outside their views and that the writer accepts again unchanged
// (what the reader validates is exactly what the writer requires), giving a file that reads back the same.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mvq/io/mvq_format.hpp"

namespace {

[[noreturn]] void bug() { __builtin_trap(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace io = mvq::io;
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(data[i]);
  auto st = io::safetensors_file::from_bytes(std::move(bytes), "fuzz.mvq.safetensors");
  if (!st) return 0;
  auto f = io::mvq_file::from_safetensors(std::move(*st));
  if (!f) {
    if (f.error().message.rfind("fuzz.mvq.safetensors: ", 0) != 0) bug();  // errors name the file
    return 0;
  }
  io::mvq_writer w;
  for (auto const& [k, v] : f->user_metadata())
    if (!w.set_metadata(k, v)) bug();
  std::vector<std::vector<float>> dense;
  for (auto const& l : f->layers()) {
    dense.push_back(l.decompress_dense());
    if (dense.back().size() != l.layout.rows * l.layout.cols) bug();
    if (!w.add_layer(l.info, l.view())) bug();
  }
  std::vector<std::vector<float>> scalar_dense;
  for (auto const& l : f->scalar_layers()) {
    scalar_dense.push_back(l.decompress_dense());
    if (scalar_dense.back().size() != l.layout.rows * l.layout.cols) bug();
    if (!w.add_scalar_layer(l.info, l.view())) bug();
  }
  for (auto const* t : f->dense_tensors())
    if (!w.add_tensor(t->name, t->type, t->shape, f->file().data(*t))) bug();
  // Round trip in memory: the same layers decode to the same weights, the same dense tensors are kept.
  auto image = w.to_bytes();
  if (!image) bug();
  auto st2 = io::safetensors_file::from_bytes(std::move(*image), "rewritten");
  if (!st2) bug();
  auto g = io::mvq_file::from_safetensors(std::move(*st2));
  if (!g || g->layers().size() != f->layers().size() || g->scalar_layers().size() != f->scalar_layers().size() ||
      g->dense_tensors().size() != f->dense_tensors().size() || g->user_metadata() != f->user_metadata())
    bug();
  for (std::size_t i = 0; i < f->layers().size(); ++i) {
    auto const* l = g->find(f->layers()[i].info.name);
    if (!l || !(l->layout == f->layers()[i].layout) || l->info.shape != f->layers()[i].info.shape) bug();
    auto d = l->decompress_dense();
    if (std::memcmp(d.data(), dense[i].data(), d.size() * sizeof(float)) != 0) bug();
  }
  for (std::size_t i = 0; i < f->scalar_layers().size(); ++i) {
    auto const* l = g->find_scalar(f->scalar_layers()[i].info.name);
    if (!l || !(l->layout == f->scalar_layers()[i].layout) || l->info.shape != f->scalar_layers()[i].info.shape) bug();
    auto d = l->decompress_dense();
    if (std::memcmp(d.data(), scalar_dense[i].data(), d.size() * sizeof(float)) != 0) bug();
  }
  return 0;
}
