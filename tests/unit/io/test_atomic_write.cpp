#include <sys/stat.h>

#include "io_test_util.hpp"
#include "models.hpp"
#include "mvq/io/detail/file.hpp"
#include "mvq/io/npy.hpp"
#include "mvq/io/safetensors.hpp"

using namespace mvq;
using io::dtype;

namespace {

const std::vector<std::byte> old_content = io_test::bytes_of("previous content");

/// A producer that writes some bytes, then fails like a full disk would.
result<void> failing_producer(io::detail::file_sink& sink) {
  std::vector<std::byte> chunk(4096, std::byte{0x5a});
  if (auto r = sink.write(chunk); !r) return r;
  return fail(errc::io_error, "simulated failure after " + std::to_string(sink.written()) + " bytes");
}

}  // namespace

TEST_CASE("atomic write: a failing producer leaves neither a file nor a temporary file", "[io][atomic]") {
  const auto dir = mvq_test::scratch_dir("io_atomic_new");
  auto r = io::detail::write_file_atomic(dir / "out.bin", failing_producer);
  REQUIRE_ERROR(r, errc::io_error, "simulated failure after 4096 bytes");
  CHECK_FALSE(std::filesystem::exists(dir / "out.bin"));
  CHECK(io_test::entries_in(dir) == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("atomic write: an existing target survives a failed write unchanged", "[io][atomic]") {
  const auto dir = mvq_test::scratch_dir("io_atomic_keep");
  io_test::write_all(dir / "out.bin", old_content);
  REQUIRE_ERROR(io::detail::write_file_atomic(dir / "out.bin", failing_producer), errc::io_error, "simulated");
  CHECK(io_test::read_all(dir / "out.bin") == old_content);
  CHECK(io_test::entries_in(dir) == 1);

  // The same through the format writers: a validation failure at write time (invalid UTF-8 metadata) ...
  io::safetensors_writer w;
  REQUIRE(w.add_f32("x", {1}, std::vector<float>{1.0f}));
  w.set_metadata("bad", std::string("\xff", 1));
  REQUIRE_ERROR(w.write(dir / "out.bin"), errc::invalid_argument, "out.bin", "UTF-8");
  // ... and a dtype .npy cannot store.
  io::npy_array a{dtype::f8_e4m3, {1}, false, std::vector<std::byte>(1)};
  REQUIRE_ERROR(io::write_npy(dir / "out.bin", a), errc::unsupported, "out.bin");
  CHECK(io_test::read_all(dir / "out.bin") == old_content);
  CHECK(io_test::entries_in(dir) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("atomic write: a successful write replaces the target completely", "[io][atomic]") {
  const auto dir = mvq_test::scratch_dir("io_atomic_replace");
  io_test::write_all(dir / "w.safetensors", std::vector<std::byte>(100000, std::byte{1}));
  io::safetensors_writer w;
  REQUIRE(w.add_f32("x", {2}, std::vector<float>{1.0f, 2.0f}));
  REQUIRE(w.write(dir / "w.safetensors"));
  CHECK(io_test::read_all(dir / "w.safetensors") == w.to_bytes().value());
  CHECK(io_test::entries_in(dir) == 1);
  // New files get the usual permissions (0666 minus the umask), not a temporary file's 0600.
  const ::mode_t old_mask = ::umask(022);
  REQUIRE(w.write(dir / "mode.safetensors"));
  ::umask(old_mask);
  struct stat st {};
  REQUIRE(::stat((dir / "mode.safetensors").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  std::filesystem::remove_all(dir);
}

TEST_CASE("atomic write: operating-system failures are reported and cleaned up", "[io][atomic]") {
  const auto dir = mvq_test::scratch_dir("io_atomic_os");
  io::safetensors_writer w;
  REQUIRE(w.add_f32("x", {1}, std::vector<float>{1.0f}));
  SECTION("missing folder") {
    REQUIRE_ERROR(w.write(dir / "no" / "such" / "x.safetensors"), errc::io_error, "x.safetensors",
                  "cannot create a temporary file");
    CHECK(io_test::entries_in(dir) == 0);
  }
  SECTION("the target is a folder: rename fails, the folder and its content stay") {
    std::filesystem::create_directory(dir / "x.safetensors");
    io_test::write_all(dir / "x.safetensors" / "keep", old_content);
    REQUIRE_ERROR(w.write(dir / "x.safetensors"), errc::io_error, "cannot rename");
    CHECK(std::filesystem::is_directory(dir / "x.safetensors"));
    CHECK(io_test::read_all(dir / "x.safetensors" / "keep") == old_content);
    CHECK(io_test::entries_in(dir) == 1);
  }
  SECTION("a path that names no file") {
    REQUIRE_ERROR(io::detail::write_file_atomic(dir / "", failing_producer), errc::invalid_argument, "names no file");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("mapped_file: maps, moves and unmaps", "[io][atomic]") {
  const auto dir = mvq_test::scratch_dir("io_map");
  io_test::write_all(dir / "f", old_content);
  auto m = io::detail::mapped_file::map(dir / "f");
  REQUIRE(m);
  REQUIRE(m->bytes().size() == old_content.size());
  CHECK(std::equal(m->bytes().begin(), m->bytes().end(), old_content.begin()));
  io::detail::mapped_file moved = std::move(*m);
  CHECK(m->bytes().empty());
  CHECK(moved.bytes().size() == old_content.size());
  auto bytes = io::detail::read_file(dir / "f");
  REQUIRE(bytes);
  CHECK(*bytes == old_content);
  io_test::write_all(dir / "empty", {});
  auto e = io::detail::mapped_file::map(dir / "empty");
  REQUIRE(e);
  CHECK(e->bytes().empty());
  std::filesystem::remove_all(dir);
}
