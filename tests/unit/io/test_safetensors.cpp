#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

#include "io_test_util.hpp"
#include "models.hpp"
#include "mvq/io/safetensors.hpp"

using namespace mvq;
using io::dtype;
using io_test::bytes_of;
using io_test::safetensors_image;

namespace {

/// Shapes exercised for every dtype: scalar, empty, tails of odd length, 3-D.
const std::vector<std::vector<std::uint64_t>> test_shapes = {{}, {0}, {1}, {7}, {3, 5}, {2, 0, 4}, {2, 3, 5}};

std::uint64_t product(const std::vector<std::uint64_t>& s) {
  return std::accumulate(s.begin(), s.end(), std::uint64_t{1}, std::multiplies<>());
}

io::safetensors_file from(std::string_view header, std::size_t data_bytes) {
  auto f = io::safetensors_file::from_bytes(safetensors_image(header, data_bytes), "t.safetensors");
  INFO((f ? std::string() : f.error().what()));
  REQUIRE(f);
  return std::move(*f);
}

auto parse(std::string_view header, std::size_t data_bytes) {
  return io::safetensors_file::from_bytes(safetensors_image(header, data_bytes), "bad.safetensors");
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("safetensors: every dtype round-trips bit for bit", "[io][safetensors]",
                        io_test::all_dtype_list) {
  constexpr dtype t = TestType::value;
  io::safetensors_writer w;
  std::vector<std::vector<std::byte>> payloads;
  for (std::size_t i = 0; i < test_shapes.size(); ++i) {
    payloads.push_back(io_test::random_bytes(t, product(test_shapes[i]), 100 + i));
    REQUIRE(w.add("t" + std::to_string(i), t, test_shapes[i], payloads.back()));
  }
  w.set_metadata("format", "pt");
  auto image = w.to_bytes();
  REQUIRE(image);
  auto f = io::safetensors_file::from_bytes(*image);
  REQUIRE(f);
  CHECK(f->metadata() == std::map<std::string, std::string>{{"format", "pt"}});
  REQUIRE(f->tensors().size() == test_shapes.size());
  for (std::size_t i = 0; i < test_shapes.size(); ++i) {
    const io::tensor_info* info = f->find("t" + std::to_string(i));
    REQUIRE(info != nullptr);
    CHECK(info->type == t);
    CHECK(info->shape == test_shapes[i]);
    CHECK(info->elements() == product(test_shapes[i]));
    auto d = f->data(*info);
    REQUIRE(d.size() == payloads[i].size());
    CHECK(std::equal(d.begin(), d.end(), payloads[i].begin()));
    // read_f32 agrees with an element-by-element reference conversion.
    auto floats = f->read_f32(info->name);
    REQUIRE(floats);
    REQUIRE(floats->size() == info->elements());
    for (std::size_t k = 0; k < floats->size(); ++k) {
      const float ref = io::detail::element_to_f32(t, payloads[i].data() + k * io::dtype_size(t));
      CHECK((std::bit_cast<std::uint32_t>((*floats)[k]) == std::bit_cast<std::uint32_t>(ref) ||
             (std::isnan(ref) && std::isnan((*floats)[k]))));
    }
  }
}

TEST_CASE("safetensors: layout is deterministic, aligned and space-padded", "[io][safetensors]") {
  const std::vector<std::pair<std::string, dtype>> specs = {
      {"b_u8", dtype::u8}, {"a_f64", dtype::f64}, {"c_f16", dtype::f16}, {"d_f32", dtype::f32},
      {"e_bool", dtype::boolean}, {"f_i64", dtype::i64}, {"g_bf16", dtype::bf16}};
  auto build = [&](std::vector<std::size_t> order) {
    io::safetensors_writer w;
    for (std::size_t i : order) {
      auto raw = io_test::random_bytes(specs[i].second, 3, i);
      REQUIRE(w.add(specs[i].first, specs[i].second, {3}, raw));
    }
    w.set_metadata("z", "last");
    w.set_metadata("a", "first");
    auto b = w.to_bytes();
    REQUIRE(b);
    return *b;
  };
  const auto forward = build({0, 1, 2, 3, 4, 5, 6});
  const auto backward = build({6, 5, 4, 3, 2, 1, 0});
  CHECK(forward == backward);

  auto f = io::safetensors_file::from_bytes(forward);
  REQUIRE(f);
  CHECK(f->data_start() % 8 == 0);
  const std::uint64_t header_len = io::detail::load_le<std::uint64_t>(forward.data());
  CHECK(header_len % 8 == 0);
  CHECK(std::to_integer<char>(forward[8]) == '{');
  // Larger elements first, then by name: every tensor starts aligned to its element size.
  std::vector<std::string> names;
  for (const auto& t : f->tensors()) {
    names.push_back(t.name);
    CHECK((f->data_start() + t.begin) % io::dtype_size(t.type) == 0);
  }
  CHECK(names == std::vector<std::string>{"a_f64", "f_i64", "d_f32", "c_f16", "g_bf16", "b_u8", "e_bool"});
  // The header text: __metadata__ first, compact JSON, padded with spaces.
  const std::string header(reinterpret_cast<const char*>(forward.data()) + 8, header_len);
  CHECK(header.rfind(R"({"__metadata__":{"a":"first","z":"last"},"a_f64":{"dtype":"F64","shape":[3],)"
                     R"("data_offsets":[0,24]},)", 0) == 0);
  const auto last = header.find_last_not_of(' ');
  CHECK(header[last] == '}');
  CHECK(header.size() - last - 1 < 8);
}

TEST_CASE("safetensors: a file written to the specification by hand parses", "[io][safetensors]") {
  // Header with whitespace, keys in arbitrary order, metadata last, an empty tensor sharing an offset.
  const std::string header =
      R"({ "w" : {"data_offsets":[8,14], "shape":[3], "dtype":"I16"}, "e": {"dtype":"F32","shape":[0,2],)"
      R"("data_offsets":[8,8]}, "s": {"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
      R"("__metadata__": {"k": "v\u00e9\n"}})";
  auto f = from(header, 14);
  REQUIRE(f.tensors().size() == 3);
  CHECK(f.tensors()[0].name == "s");
  CHECK(f.tensors()[1].name == "e");
  CHECK(f.tensors()[2].name == "w");
  CHECK(f.metadata().at("k") == "v\xc3\xa9\n");
  const auto* w = f.find("w");
  REQUIRE(w != nullptr);
  auto v = f.read_f32("w");
  REQUIRE(v);
  // Data bytes are 0, 1, 2, ...: I16 little-endian at offset 8 is 8 + 9·256, ...
  CHECK(*v == std::vector<float>{8 + 9 * 256, 10 + 11 * 256, 12 + 13 * 256});
  CHECK(f.find("missing") == nullptr);
  REQUIRE_ERROR(f.read_f32("missing"), errc::not_found, "t.safetensors", "'missing'");
  // An empty header object is a valid file without tensors.
  auto empty = from("{}      ", 0);
  CHECK(empty.tensors().empty());
  CHECK(empty.metadata().empty());
}

TEST_CASE("safetensors: the writer rejects bad tensors", "[io][safetensors]") {
  io::safetensors_writer w;
  std::vector<std::byte> twelve(12);
  REQUIRE(w.add("a", dtype::f32, {3}, twelve));
  REQUIRE_ERROR(w.add("a", dtype::f32, {3}, twelve), errc::invalid_argument, "'a' was added twice");
  REQUIRE_ERROR(w.add("__metadata__", dtype::f32, {3}, twelve), errc::invalid_argument, "reserved");
  REQUIRE_ERROR(w.add("b", dtype::f32, {4}, twelve), errc::shape_mismatch, "'b'", "needs 16 bytes, got 12");
  REQUIRE_ERROR(w.add("c", dtype::f64, {1ull << 32, 1ull << 32}, twelve), errc::too_large, "overflows");
  REQUIRE_ERROR(w.add(std::string("bad\xff", 4), dtype::f32, {3}, twelve), errc::invalid_argument, "UTF-8");
  CHECK(w.size() == 1);
  w.set_metadata("k", std::string("\xc0\x80", 2));  // an overlong encoding of NUL
  REQUIRE_ERROR(w.to_bytes(), errc::invalid_argument, "UTF-8");
  // Control characters, quotes and backslashes are escaped and come back unchanged.
  io::safetensors_writer ok;
  const std::string odd = std::string("q\"b\\n\nt\tc\x01z\0end", 15);
  REQUIRE(ok.add(odd, dtype::u8, {0}, {}));
  ok.set_metadata(odd, odd);
  auto b = ok.to_bytes();
  REQUIRE(b);
  auto f = io::safetensors_file::from_bytes(*b);
  REQUIRE(f);
  CHECK(f->find(odd) != nullptr);
  CHECK(f->metadata().at(odd) == odd);
}

TEST_CASE("safetensors: add_f32 stores little-endian F32", "[io][safetensors]") {
  io::safetensors_writer w;
  const std::vector<float> v = {1.0f, -0.5f, 3.25f, 1e-30f, -7e20f, 0.0f};
  REQUIRE(w.add_f32("w", {2, 3}, v));
  REQUIRE_ERROR(w.add_f32("x", {4}, v), errc::shape_mismatch, "needs 16 bytes, got 24");
  auto b = w.to_bytes();
  REQUIRE(b);
  auto f = io::safetensors_file::from_bytes(*b);
  REQUIRE(f);
  CHECK(f->read_f32("w").value() == v);
  CHECK(std::to_integer<unsigned>(f->data(*f->find("w"))[3]) == 0x3f);  // 1.0f = 0x3F800000, high byte last
}

TEST_CASE("safetensors: corrupt headers give specific errors", "[io][safetensors]") {
  using io_test::safetensors_image;
  SECTION("too short for the length field") {
    REQUIRE_ERROR(io::safetensors_file::from_bytes(std::vector<std::byte>(5), "bad.safetensors"),
                  errc::corrupt_file, "bad.safetensors", "5 bytes, too short");
  }
  SECTION("header length larger than the file") {
    REQUIRE_ERROR(io::safetensors_file::from_bytes(safetensors_image("{}", 0, 1000), "bad.safetensors"),
                  errc::corrupt_file, "header length 1000 exceeds the 2 bytes");
    REQUIRE_ERROR(io::safetensors_file::from_bytes(safetensors_image("{}", 0, ~0ull - 3), "bad.safetensors"),
                  errc::corrupt_file, "exceeds");
  }
  SECTION("header length above the 100 MB limit") {
    std::vector<std::byte> big(8 + 100'000'008, std::byte{' '});
    io::detail::store_le<std::uint64_t>(big.data(), 100'000'001);
    REQUIRE_ERROR(io::safetensors_file::from_bytes(std::move(big), "bad.safetensors"), errc::too_large,
                  "header length 100000001 exceeds the limit");
  }
  SECTION("bad JSON") {
    REQUIRE_ERROR(parse(R"({"a": {"dtype": "F32", )", 0), errc::corrupt_file, "not valid JSON", "parse error");
    REQUIRE_ERROR(parse("{} x", 0), errc::corrupt_file, "not valid JSON");
    REQUIRE_ERROR(parse("", 0), errc::corrupt_file, "not valid JSON");
    REQUIRE_ERROR(parse(std::string("{\"\xff\": 1}"), 0), errc::corrupt_file, "not valid JSON");
    REQUIRE_ERROR(parse("[1, 2]", 0), errc::corrupt_file, "not a JSON object");
    REQUIRE_ERROR(parse(R"({"a": [[[[1]]]]})", 0), errc::corrupt_file, "deeper");
    REQUIRE_ERROR(parse(R"({"a": 5})", 0), errc::corrupt_file, "tensor 'a'", "not a JSON object");
  }
  SECTION("dtype") {
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", 4), errc::corrupt_file,
                  "bad.safetensors", "tensor 'w'", "unknown dtype 'F33'");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}})", 4), errc::corrupt_file,
                  "unknown dtype 'f32'");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", 4), errc::corrupt_file,
                  "dtype is not a string");
    REQUIRE_ERROR(parse(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4), errc::corrupt_file,
                  "dtype is missing");
  }
  SECTION("shape") {
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
                  errc::corrupt_file, "tensor 'w'", "shape entry 0", "not a non-negative integer");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [1, 2.5], "data_offsets": [0, 4]}})", 4),
                  errc::corrupt_file, "shape entry 1");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": 3, "data_offsets": [0, 4]}})", 4), errc::corrupt_file,
                  "shape is not an array");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4), errc::corrupt_file,
                  "shape is missing");
    // 10^12 elements: an error about the size, not an allocation.
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [1000000, 1000000], "data_offsets": [0, 16]}})", 16),
                  errc::corrupt_file, "tensor 'w'", "needs 4000000000000 bytes", "span 16");
    // 2^32 · 2^32 overflows 64 bits.
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0),
                  errc::too_large, "tensor 'w'", "overflows");
    // 2^62 elements fit, their 8-byte size does not.
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})", 0),
                  errc::too_large, "overflows");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8), errc::corrupt_file,
                  "needs 12 bytes but data_offsets [0, 8] span 8");
  }
  SECTION("offsets") {
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", 8),
                  errc::corrupt_file, "array of two integers");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, -4]}})", 4), errc::corrupt_file,
                  "not non-negative integers");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}})", 4), errc::corrupt_file,
                  "end before they begin");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8), errc::corrupt_file,
                  "tensor 'w'", "gap of 4 bytes");
    REQUIRE_ERROR(parse(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                        R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                        8),
                  errc::corrupt_file, "tensor 'b'", "overlap tensor 'a'");
    REQUIRE_ERROR(parse(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                        R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                        8),
                  errc::corrupt_file, "overlap");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 7), errc::corrupt_file,
                  "tensor 'w'", "past the end of the 7-byte data section");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 6), errc::corrupt_file,
                  "2 trailing bytes");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [1]}})", 4), errc::corrupt_file, "data_offsets is missing");
  }
  SECTION("names, fields and metadata") {
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                        R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                        8),
                  errc::corrupt_file, "tensor name 'w' appears twice");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4),
                  errc::corrupt_file, "'dtype' twice");
    REQUIRE_ERROR(parse(R"({"__metadata__": {"k": "a", "k": "b"}})", 0), errc::corrupt_file, "'k' twice");
    REQUIRE_ERROR(parse(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}})", 4),
                  errc::corrupt_file, "tensor 'w'", "unknown field 'x'");
    REQUIRE_ERROR(parse(R"({"__metadata__": {"k": 1}})", 0), errc::corrupt_file,
                  "__metadata__ value of key 'k' is not a string");
    REQUIRE_ERROR(parse(R"({"__metadata__": {"k": {"nested": "x"}}})", 0), errc::corrupt_file, "not a string");
    REQUIRE_ERROR(parse(R"({"__metadata__": ["k"]})", 0), errc::corrupt_file, "__metadata__ is not a JSON object");
  }
}

TEST_CASE("safetensors: every truncation of a valid file is rejected", "[io][safetensors]") {
  io::safetensors_writer w;
  auto raw = io_test::random_bytes(dtype::f16, 10, 1);
  REQUIRE(w.add("h", dtype::f16, {2, 5}, raw));
  REQUIRE(w.add_f32("s", {}, std::vector<float>{2.0f}));
  w.set_metadata("m", "v");
  auto full = w.to_bytes();
  REQUIRE(full);
  REQUIRE(io::safetensors_file::from_bytes(*full));
  for (std::size_t n = 0; n < full->size(); ++n) {
    INFO("prefix of " << n << " bytes");
    std::vector<std::byte> prefix(full->begin(), full->begin() + static_cast<std::ptrdiff_t>(n));
    auto f = io::safetensors_file::from_bytes(std::move(prefix), "cut.safetensors");
    REQUIRE_FALSE(f);
    CHECK(f.error().code == errc::corrupt_file);
    CHECK_THAT(f.error().message, Catch::StartsWith("cut.safetensors: "));
  }
  // Appending a byte is rejected too (it belongs to no tensor).
  auto longer = *full;
  longer.push_back(std::byte{0});
  REQUIRE_ERROR(io::safetensors_file::from_bytes(longer), errc::corrupt_file, "1 trailing bytes");
}

TEST_CASE("safetensors: open() maps or reads files and reports file errors", "[io][safetensors]") {
  const auto dir = mvq_test::scratch_dir("io_st_open");
  io::safetensors_writer w;
  auto raw = io_test::random_bytes(dtype::i32, 1000, 5);
  REQUIRE(w.add("x", dtype::i32, {10, 100}, raw));
  REQUIRE(w.write(dir / "x.safetensors"));
  for (auto mode : {io::open_mode::map, io::open_mode::read}) {
    auto f = io::safetensors_file::open(dir / "x.safetensors", mode);
    REQUIRE(f);
    CHECK(f->name() == (dir / "x.safetensors").string());
    const auto d = f->data(f->tensors()[0]);
    CHECK(std::equal(d.begin(), d.end(), raw.begin(), raw.end()));
    // Moving the file object keeps its bytes where they are.
    const std::byte* before = d.data();
    io::safetensors_file moved = std::move(*f);
    CHECK(moved.data(moved.tensors()[0]).data() == before);
    CHECK(moved.bytes().size() == std::filesystem::file_size(dir / "x.safetensors"));
    // The moved-from object is empty, not dangling.
    CHECK(f->tensors().empty());
    CHECK(f->bytes().empty());
    CHECK(f->find("x") == nullptr);
    CHECK(f->data(moved.tensors()[0]).empty());
    // Move assignment releases the previous content and takes the other's.
    auto other = io::safetensors_file::from_bytes(io_test::safetensors_image("{}", 0)).value();
    other = std::move(moved);
    CHECK(other.data(other.tensors()[0]).data() == before);
  }
  REQUIRE_ERROR(io::safetensors_file::open(dir / "absent.safetensors"), errc::not_found, "absent.safetensors",
                "cannot open");
  REQUIRE_ERROR(io::safetensors_file::open(dir, io::open_mode::read), errc::io_error, "not a regular file");
  REQUIRE_ERROR(io::safetensors_file::open(dir), errc::io_error, "not a regular file");
  io_test::write_all(dir / "empty.safetensors", {});
  REQUIRE_ERROR(io::safetensors_file::open(dir / "empty.safetensors"), errc::corrupt_file, "empty.safetensors",
                "0 bytes, too short");
  auto bad = safetensors_image(R"({"w": {"dtype": "X", "shape": [], "data_offsets": [0, 0]}})", 0);
  io_test::write_all(dir / "bad.safetensors", bad);
  for (auto mode : {io::open_mode::map, io::open_mode::read})
    REQUIRE_ERROR(io::safetensors_file::open(dir / "bad.safetensors", mode), errc::corrupt_file, "bad.safetensors",
                  "tensor 'w'", "unknown dtype 'X'");
  std::filesystem::remove_all(dir);
}
