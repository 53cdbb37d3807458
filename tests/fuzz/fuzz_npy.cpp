// libFuzzer target for the .npy reader: any input either fails with an error naming the file or yields an array
// whose data matches its shape, converts to fp32 element for element, and survives write + re-read unchanged
// in every header version.
#include <cstddef>
#include <cstdint>
#include <span>

#include "mvq/io/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto a = mvq::io::parse_npy(bytes, "fuzz.npy");
  if (!a) {
    if (a.error().message.rfind("fuzz.npy: ", 0) != 0) __builtin_trap();
    return 0;
  }
  if (a->elements() * mvq::io::dtype_size(a->type) != a->data.size()) __builtin_trap();
  auto floats = mvq::io::npy_to_f32(*a);
  if (!floats || floats->size() != a->elements()) __builtin_trap();
  for (auto version : {mvq::io::npy_version::automatic, mvq::io::npy_version::v1_0, mvq::io::npy_version::v2_0,
                       mvq::io::npy_version::v3_0}) {
    auto image = mvq::io::to_npy_bytes(*a, version);
    if (!image) __builtin_trap();
    auto b = mvq::io::parse_npy(*image, "rewritten");
    if (!b || b->type != a->type || b->shape != a->shape || b->fortran_order != a->fortran_order ||
        b->data != a->data)
      __builtin_trap();
  }
  return 0;
}
