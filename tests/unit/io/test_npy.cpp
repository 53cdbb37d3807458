#include <algorithm>
#include <numeric>

#include "io_test_util.hpp"
#include "models.hpp"
#include "mvq/io/npy.hpp"

using namespace mvq;
using io::dtype;

namespace {

std::uint64_t product(const std::vector<std::uint64_t>& s) {
  return std::accumulate(s.begin(), s.end(), std::uint64_t{1}, std::multiplies<>());
}

/// A .npy image from a version, a dict text (padded as given) and `data_bytes` bytes 0, 1, 2, ...
std::vector<std::byte> npy_image(unsigned major, std::string_view dict, std::size_t data_bytes,
                                 std::uint64_t declared = ~0ull) {
  std::vector<std::byte> out;
  for (unsigned char c : io::detail::npy_magic) out.push_back(static_cast<std::byte>(c));
  out.push_back(static_cast<std::byte>(major));
  out.push_back(std::byte{0});
  const std::uint64_t len = declared == ~0ull ? dict.size() : declared;
  for (unsigned i = 0; i < (major == 1 ? 2u : 4u); ++i) out.push_back(static_cast<std::byte>((len >> (8 * i)) & 0xffu));
  io_test::append(out, dict);
  for (std::size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<std::byte>(i & 0xffu));
  return out;
}

auto parse_dict(std::string_view dict, std::size_t data_bytes) {
  return io::parse_npy(npy_image(1, dict, data_bytes), "bad.npy");
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("npy: every NumPy dtype round-trips in both orders and all versions", "[io][npy]",
                        io_test::npy_dtype_list) {
  constexpr dtype t = TestType::value;
  const std::vector<std::vector<std::uint64_t>> shapes = {{}, {0}, {1}, {5}, {3, 4}, {2, 0, 3}, {2, 3, 5}};
  std::uint64_t seed = 1;
  for (auto version : {io::npy_version::automatic, io::npy_version::v1_0, io::npy_version::v2_0, io::npy_version::v3_0}) {
    for (bool fortran : {false, true}) {
      for (const auto& shape : shapes) {
        INFO("version " << static_cast<int>(version) << " fortran " << fortran << " rank " << shape.size());
        io::npy_array a{t, shape, fortran, io_test::random_bytes(t, product(shape), seed++)};
        auto image = io::to_npy_bytes(a, version);
        REQUIRE(image);
        const unsigned major = std::to_integer<unsigned>((*image)[6]);
        CHECK(major == (version == io::npy_version::v2_0 ? 2u : version == io::npy_version::v3_0 ? 3u : 1u));
        // NumPy aligns the data to 64 bytes and ends the header with '\n'.
        const std::size_t data_start = image->size() - a.data.size();
        CHECK(data_start % 64 == 0);
        CHECK(std::to_integer<char>((*image)[data_start - 1]) == '\n');
        auto b = io::parse_npy(*image, "rt.npy");
        REQUIRE(b);
        CHECK(b->type == t);
        CHECK(b->shape == shape);
        CHECK(b->fortran_order == fortran);
        CHECK(b->data == a.data);
      }
    }
  }
}

TEST_CASE("npy: header text is byte-identical to NumPy's", "[io][npy]") {
  // numpy 1.24: np.save(f, np.zeros((3, 4), '<f4')) writes this 128-byte header.
  io::npy_array a{dtype::f32, {3, 4}, false, std::vector<std::byte>(48)};
  auto image = io::to_npy_bytes(a);
  REQUIRE(image);
  REQUIRE(image->size() == 128 + 48);
  const std::string header(reinterpret_cast<const char*>(image->data()), 128);
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  CHECK(header == std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict + std::string(128 - 10 - dict.size() - 1, ' ') + "\n");
  io::npy_array v{dtype::boolean, {2}, false, std::vector<std::byte>(2)};
  auto image1 = io::to_npy_bytes(v);
  REQUIRE(image1);
  CHECK(std::string(reinterpret_cast<const char*>(image1->data()) + 10, 57) ==
        "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }");
}

TEST_CASE("npy: headers NumPy may write or accept parse", "[io][npy]") {
  // Python 2 long suffixes, double quotes, no trailing comma, different key order, tabs.
  auto a = io::parse_npy(npy_image(1, "{\"shape\": (2L, 3L), 'fortran_order':True,\t'descr':'<i2'}\n", 12), "x.npy");
  REQUIRE(a);
  CHECK(a->type == dtype::i16);
  CHECK(a->shape == std::vector<std::uint64_t>{2, 3});
  CHECK(a->fortran_order);
  auto s = io::parse_npy(npy_image(2, "{'descr': '|u1', 'fortran_order': False, 'shape': (), }", 1), "x.npy");
  REQUIRE(s);
  CHECK(s->shape.empty());
  CHECK(s->elements() == 1);
}

TEST_CASE("npy: big-endian files are byte-swapped to little-endian", "[io][npy]") {
  // >i2 [0x0102, 0x0304] and >f8 [1.0]
  auto i = io::parse_npy(npy_image(1, "{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", 4), "be.npy");
  REQUIRE(i);
  CHECK(io::npy_to_f32(*i).value() == std::vector<float>{256 * 0 + 1, 256 * 2 + 3});
  auto img = npy_image(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", 0);
  for (unsigned b : {0x3fu, 0xf0u, 0u, 0u, 0u, 0u, 0u, 0u}) img.push_back(static_cast<std::byte>(b));
  auto f = io::parse_npy(img, "be.npy");
  REQUIRE(f);
  CHECK(io::npy_to_f32(*f).value() == std::vector<float>{1.0f});
  // '|' is only meaningful for single-byte types; '<u1' and '>b1' are accepted like NumPy does.
  REQUIRE(io::parse_npy(npy_image(1, "{'descr': '>b1', 'fortran_order': False, 'shape': (1,), }", 1), "x.npy"));
}

TEST_CASE("npy: npy_to_f32 returns C order for Fortran-ordered arrays", "[io][npy]") {
  // 2×3 array [[0,1,2],[3,4,5]] stored column-major is 0 3 1 4 2 5.
  io::npy_array a{dtype::i8, {2, 3}, true, {}};
  for (int v : {0, 3, 1, 4, 2, 5}) a.data.push_back(static_cast<std::byte>(v));
  CHECK(io::npy_to_f32(a).value() == std::vector<float>{0, 1, 2, 3, 4, 5});
  // 3-D against the definition: C index (i, j, k) lives at Fortran offset i + I·(j + J·k).
  const std::uint64_t I = 2, J = 3, K = 4;
  io::npy_array b{dtype::u8, {I, J, K}, true, io_test::random_bytes(dtype::u8, I * J * K, 9)};
  auto c = io::npy_to_f32(b).value();
  for (std::uint64_t i = 0; i < I; ++i)
    for (std::uint64_t j = 0; j < J; ++j)
      for (std::uint64_t k = 0; k < K; ++k)
        CHECK(c[(i * J + j) * K + k] == static_cast<float>(std::to_integer<unsigned>(b.data[i + I * (j + J * k)])));
}

TEST_CASE("npy: write_npy/read_npy through a file", "[io][npy]") {
  const auto dir = mvq_test::scratch_dir("io_npy");
  io::npy_array a{dtype::f64, {4, 3}, true, io_test::random_bytes(dtype::f64, 12, 3)};
  REQUIRE(io::write_npy(dir / "a.npy", a));
  auto b = io::read_npy(dir / "a.npy");
  REQUIRE(b);
  CHECK(b->data == a.data);
  CHECK(b->shape == a.shape);
  CHECK(b->fortran_order);
  REQUIRE_ERROR(io::read_npy(dir / "missing.npy"), errc::not_found, "missing.npy");
  // A dtype without a NumPy code is refused before anything is written.
  io::npy_array bf{dtype::bf16, {2}, false, std::vector<std::byte>(4)};
  REQUIRE_ERROR(io::write_npy(dir / "bf.npy", bf), errc::unsupported, "bf.npy", "BF16 has no NumPy type code");
  CHECK_FALSE(std::filesystem::exists(dir / "bf.npy"));
  io::npy_array wrong{dtype::f32, {3}, false, std::vector<std::byte>(8)};
  REQUIRE_ERROR(io::to_npy_bytes(wrong), errc::shape_mismatch, "[3]", "8 data bytes");
  CHECK(io_test::entries_in(dir) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("npy: version 2.0 headers longer than 65535 bytes parse", "[io][npy]") {
  std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }";
  dict.append(70000, ' ');
  auto parsed = io::parse_npy(npy_image(2, dict + "\n", 1), "wide.npy");
  REQUIRE(parsed);
  CHECK(parsed->shape == std::vector<std::uint64_t>{1});
  REQUIRE_ERROR(io::parse_npy(npy_image(1, dict + "\n", 1, 70000 % 65536), "wide.npy"), errc::corrupt_file,
                "wide.npy", "trailing bytes");
}

TEST_CASE("npy: corrupt files give specific errors", "[io][npy]") {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  REQUIRE(parse_dict(ok, 8));
  SECTION("magic and version") {
    auto img = npy_image(1, ok, 8);
    img[1] = std::byte{'X'};
    REQUIRE_ERROR(io::parse_npy(img, "bad.npy"), errc::corrupt_file, "bad.npy", "magic");
    REQUIRE_ERROR(io::parse_npy(std::vector<std::byte>(3), "bad.npy"), errc::corrupt_file, "3 bytes, shorter");
    REQUIRE_ERROR(io::parse_npy(npy_image(4, ok, 8), "bad.npy"), errc::unsupported, "version 4.0");
    auto minor = npy_image(1, ok, 8);
    minor[7] = std::byte{1};
    REQUIRE_ERROR(io::parse_npy(minor, "bad.npy"), errc::unsupported, "version 1.1");
  }
  SECTION("header length") {
    auto img = npy_image(2, ok, 8);
    img.resize(10);
    REQUIRE_ERROR(io::parse_npy(img, "bad.npy"), errc::corrupt_file, "ends inside the npy header length");
    REQUIRE_ERROR(io::parse_npy(npy_image(1, ok, 0, 60000), "bad.npy"), errc::corrupt_file,
                  "header length 60000 exceeds");
    std::string huge = ok;
    huge.append((1u << 20) + 10, ' ');
    REQUIRE_ERROR(io::parse_npy(npy_image(2, huge, 8), "bad.npy"), errc::too_large, "exceeds the limit");
  }
  SECTION("dict syntax and keys") {
    REQUIRE_ERROR(parse_dict("'descr': '<f4'}", 8), errc::corrupt_file, "bad.npy", "does not start with '{'");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'fortran_order': False}", 8), errc::corrupt_file,
                  "'shape' is missing");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8),
                  errc::corrupt_file, "unexpected key 'x'");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8),
                  errc::corrupt_file, "'descr' appears twice");
    REQUIRE_ERROR(parse_dict("{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}", 8), errc::corrupt_file,
                  "expected ':' after key 'descr'");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4", 8), errc::corrupt_file, "unterminated string");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", 8), errc::corrupt_file,
                  "fortran_order is not True or False");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}", 8), errc::corrupt_file,
                  "not True or False");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", 8), errc::corrupt_file,
                  "after the closing");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", 8), errc::corrupt_file,
                  "expected ',' or '}'");
    REQUIRE_ERROR(parse_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", 8),
                  errc::unsupported, "structured");
  }
  SECTION("dtype") {
    REQUIRE_ERROR(parse_dict("{'descr': '<c8', 'fortran_order': False, 'shape': (2,)}", 16), errc::unsupported,
                  "npy dtype '<c8' is not supported");
    REQUIRE_ERROR(parse_dict("{'descr': '|f4', 'fortran_order': False, 'shape': (2,)}", 8), errc::unsupported,
                  "'|f4'");
    REQUIRE_ERROR(parse_dict("{'descr': 'O', 'fortran_order': False, 'shape': (2,)}", 8), errc::unsupported, "'O'");
  }
  SECTION("shape") {
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", 8), errc::corrupt_file,
                  "not a tuple");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", 8), errc::corrupt_file,
                  "shape is not a tuple");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", 8), errc::corrupt_file,
                  "non-negative integer");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,)}", 8), errc::corrupt_file,
                  "expected ',' or ')'");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 8),
                  errc::too_large, "does not fit 64 bits");
    REQUIRE_ERROR(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000)}", 8),
                  errc::corrupt_file, "needs 4000000000000 data bytes but the file holds 8", "truncated");
    REQUIRE_ERROR(parse_dict("{'descr': '<u8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", 8),
                  errc::too_large, "overflows");
    REQUIRE_ERROR(parse_dict(ok, 7), errc::corrupt_file, "needs 8 data bytes but the file holds 7");
    REQUIRE_ERROR(parse_dict(ok, 9), errc::corrupt_file, "holds 9", "trailing bytes");
  }
}

TEST_CASE("npy: every truncation of a valid file is rejected", "[io][npy]") {
  io::npy_array a{dtype::i32, {3, 2}, false, io_test::random_bytes(dtype::i32, 6, 4)};
  auto full = io::to_npy_bytes(a, io::npy_version::v2_0).value();
  for (std::size_t n = 0; n < full.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    auto r = io::parse_npy(std::span(full).first(n), "cut.npy");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::corrupt_file);
    CHECK_THAT(r.error().message, Catch::StartsWith("cut.npy: "));
  }
}
