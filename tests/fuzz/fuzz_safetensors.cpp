// libFuzzer target for the safetensors reader: any input either fails validation with an error or yields a file
// whose tensors can all be read, and which the writer re-serializes into a file that parses to the same content
// (and re-serializes to the same bytes).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mvq/io/safetensors.hpp"

namespace {

mvq::io::safetensors_writer rewrite(const mvq::io::safetensors_file& f) {
  mvq::io::safetensors_writer w;
  for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);
  for (const auto& t : f.tensors())
    if (!w.add(t.name, t.type, t.shape, f.data(t))) __builtin_trap();
  return w;
}

bool same_content(const mvq::io::safetensors_file& a, const mvq::io::safetensors_file& b) {
  if (a.metadata() != b.metadata() || a.tensors().size() != b.tensors().size()) return false;
  for (const auto& t : a.tensors()) {
    const auto* u = b.find(t.name);
    if (!u || u->type != t.type || u->shape != t.shape) return false;
    const auto x = a.data(t), y = b.data(*u);
    if (x.size() != y.size() || !std::equal(x.begin(), x.end(), y.begin())) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(data[i]);
  auto f = mvq::io::safetensors_file::from_bytes(std::move(bytes), "fuzz.safetensors");
  if (!f) {
    if (f.error().message.rfind("fuzz.safetensors: ", 0) != 0) __builtin_trap();  // errors name the file
    return 0;
  }
  // Touch every tensor: raw bytes and the fp32 conversion, which must have one float per element.
  unsigned sum = 0;
  for (const auto& t : f->tensors()) {
    if (f->find(t.name) != &t) __builtin_trap();
    const auto d = f->data(t);
    if (d.size() != t.bytes() || t.elements() * mvq::io::dtype_size(t.type) != d.size()) __builtin_trap();
    for (std::byte b : d) sum += std::to_integer<unsigned>(b);
    auto v = f->read_f32(t.name);
    if (!v || v->size() != t.elements()) __builtin_trap();
  }
  (void)sum;
  auto image = rewrite(*f).to_bytes();
  if (!image) __builtin_trap();
  auto g = mvq::io::safetensors_file::from_bytes(*image, "rewritten");
  if (!g || !same_content(*f, *g)) __builtin_trap();
  auto again = rewrite(*g).to_bytes();
  if (!again || *again != *image) __builtin_trap();
  return 0;
}
