#pragma once
/// @file
/// POSIX file helpers of the io area: a read-only memory map, a whole-file read, and an atomic write
/// (temporary file in the target's folder, fsync, rename) that never leaves a partial file under the target name.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "mvq/core/error.hpp"

namespace mvq::inline v0::io::detail {

/// "No such file or directory" for an errno value (std::generic_category never throws for this).
[[nodiscard]] inline std::string errno_text(int e) { return std::generic_category().message(e); }

/// A file descriptor closed on destruction.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  /// Closes now and reports whether close() succeeded (it can report a deferred write error).
  bool reset() noexcept {
    bool ok = true;
    if (fd_ >= 0) ok = ::close(fd_) == 0;
    fd_ = -1;
    return ok;
  }

private:
  int fd_ = -1;
};

/// An open regular file and its size.
struct opened_file {
  unique_fd fd;
  std::uint64_t size = 0;
};

/// Opens `path` read-only and checks that it is a regular file.
[[nodiscard]] inline result<opened_file> open_regular(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return fail(e == ENOENT ? errc::not_found : errc::io_error, path.string() + ": cannot open: " + errno_text(e));
  }
  opened_file f{unique_fd(fd), 0};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(errc::io_error, path.string() + ": cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return fail(errc::io_error, path.string() + ": not a regular file");
  f.size = static_cast<std::uint64_t>(st.st_size);
  return f;
}

/// A read-only, private memory map of a whole file. Move-only; unmaps on destruction. An empty file maps to
/// an empty span without calling mmap (which rejects length 0).
class mapped_file {
public:
  mapped_file() = default;
  mapped_file(mapped_file&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      unmap();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file() { unmap(); }

  /// Maps `path` read-only. The descriptor is closed right away; the mapping keeps the file's pages alive.
  [[nodiscard]] static result<mapped_file> map(const std::filesystem::path& path) {
    auto f = open_regular(path);
    if (!f) return tl::unexpected(std::move(f.error()));
    mapped_file m;
    if (f->size == 0) return m;
    if (f->size > static_cast<std::uint64_t>(static_cast<std::size_t>(-1) >> 1))
      return fail(errc::too_large, path.string() + ": file of " + std::to_string(f->size) +
                                       " bytes does not fit the address space");
    const auto size = static_cast<std::size_t>(f->size);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, f->fd.get(), 0);
    if (p == MAP_FAILED) return fail(errc::io_error, path.string() + ": cannot mmap: " + errno_text(errno));
    m.data_ = static_cast<const std::byte*>(p);
    m.size_ = size;
    return m;
  }

  /// The mapped bytes.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

private:
  void unmap() noexcept {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }

  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Reads a whole regular file into memory.
[[nodiscard]] inline result<std::vector<std::byte>> read_file(const std::filesystem::path& path) {
  auto f = open_regular(path);
  if (!f) return tl::unexpected(std::move(f.error()));
  if (f->size > static_cast<std::uint64_t>(static_cast<std::size_t>(-1) >> 1))
    return fail(errc::too_large, path.string() + ": file of " + std::to_string(f->size) +
                                     " bytes does not fit the address space");
  std::vector<std::byte> bytes(static_cast<std::size_t>(f->size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ::ssize_t n = ::read(f->fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errc::io_error, path.string() + ": read failed: " + errno_text(errno));
    if (n == 0) return fail(errc::io_error, path.string() + ": file shrank while it was read");
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

/// The write end of an atomic write: an open temporary file.
class file_sink {
public:
  file_sink(int fd, const std::filesystem::path& target) noexcept : fd_(fd), target_(&target) {}

  /// Appends `bytes`, retrying short writes and EINTR.
  [[nodiscard]] result<void> write(std::span<const std::byte> bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ::ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return fail(errc::io_error, target_->string() + ": write failed: " + errno_text(n < 0 ? errno : EIO));
      done += static_cast<std::size_t>(n);
      written_ += static_cast<std::uint64_t>(n);
    }
    return {};
  }
  /// Bytes written so far.
  [[nodiscard]] std::uint64_t written() const noexcept { return written_; }

private:
  int fd_;
  const std::filesystem::path* target_;
  std::uint64_t written_ = 0;
};

/// Writes a file atomically: `produce(file_sink&) -> result<void>` writes the content into a new temporary file
/// in the target's folder (named ".<target>.tmp.<pid>.<n>"), which is then fsync'ed and renamed over `target`
/// (POSIX rename is atomic). If anything fails, including `produce`, the temporary file is removed and the
/// target, if it existed, is left untouched.
template <class Producer>
[[nodiscard]] result<void> write_file_atomic(const std::filesystem::path& target, Producer&& produce) {
  const std::string what = target.string();
  if (!target.has_filename()) return fail(errc::invalid_argument, what + ": the target path names no file");
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  static std::atomic<unsigned> counter{0};
  std::filesystem::path tmp;
  unique_fd fd;
  for (int attempt = 0; attempt < 100 && fd.get() < 0; ++attempt) {
    // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on `"literal" + std::string&&` chains.
    std::string name = ".";
    name += target.filename().string();
    name += ".tmp.";
    name += std::to_string(::getpid());
    name += '.';
    name += std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
    tmp = dir / name;
    // 0666 before the umask: the file gets the permissions any newly created file would get.
    int raw = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (raw >= 0) fd = unique_fd(raw);
    else if (errno != EEXIST)
      return fail(errc::io_error, what + ": cannot create a temporary file in '" + dir.string() +
                                      "': " + errno_text(errno));
  }
  if (fd.get() < 0) return fail(errc::io_error, what + ": no free temporary file name");
  auto cleanup = [&](error e) -> result<void> {
    fd.reset();
    ::unlink(tmp.c_str());
    return tl::unexpected(std::move(e));
  };
  file_sink sink(fd.get(), target);
  if (result<void> r = produce(sink); !r) return cleanup(std::move(r.error()));
  if (::fsync(fd.get()) != 0) return cleanup(error{errc::io_error, what + ": fsync failed: " + errno_text(errno)});
  if (!fd.reset()) return cleanup(error{errc::io_error, what + ": close failed: " + errno_text(errno)});
  if (::rename(tmp.c_str(), target.c_str()) != 0)
    return cleanup(error{errc::io_error, what + ": cannot rename the temporary file over the target: " +
                                             errno_text(errno)});
  // Persist the directory entry too; failure here leaves a complete file, so it is not reported.
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace mvq::inline v0::io::detail
