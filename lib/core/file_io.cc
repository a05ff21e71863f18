#include "mixq/core/file_io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace mixq {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Removes ".<name>.tmp-<pid>-<n>" files in `dir` whose writer process no longer exists: what a
// killed run of an earlier AtomicFile for the same name left behind. A temporary file of a live
// process (another writer of the same output right now) is kept; so are names that do not
// follow the pattern exactly.
void remove_stale_temporaries(const std::filesystem::path& dir, const std::string& name) {
  const std::string prefix = "." + name + ".tmp-";
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return;
  for (const auto& entry : it) {
    const std::string file = entry.path().filename().string();
    if (file.size() <= prefix.size() || file.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = file.substr(prefix.size());
    const size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos || dash + 1 == rest.size()) continue;
    if (rest.find_first_not_of("0123456789-") != std::string::npos) continue;
    if (rest.find('-', dash + 1) != std::string::npos || dash > 9) continue;
    const long pid = std::stol(rest.substr(0, dash));
    if (pid <= 0 || pid == static_cast<long>(::getpid())) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    std::filesystem::remove(entry.path(), rm);
  }
}

}  // namespace

MappedFile::~MappedFile() {
  if (data_ != nullptr) munmap(data_, size_);
}

Expected<std::shared_ptr<const MappedFile>> MappedFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return bad_input(path.string(), ": cannot open: ", errno_text(err));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return bad_input(path.string(), ": cannot stat: ", errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return bad_input(path.string(), ": not a regular file");
  }
  auto file = std::shared_ptr<MappedFile>(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return bad_input(path.string(), ": cannot map: ", errno_text(err));
    }
    file->data_ = static_cast<std::byte*>(p);
  }
  ::close(fd);  // the mapping stays valid
  return std::shared_ptr<const MappedFile>(std::move(file));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(temp_path_, ec);
  }
}

Expected<std::unique_ptr<AtomicFile>> AtomicFile::create(const std::filesystem::path& path) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return bad_input(path.string(), ": output folder '", dir.string(), "' does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) {
    return bad_input(path.string(), ": output path is a folder");
  }
  remove_stale_temporaries(dir, path.filename().string());
  auto f = std::unique_ptr<AtomicFile>(new AtomicFile());
  f->path_ = path;
  std::random_device rd;
  const std::string pid = std::to_string(::getpid());
  for (int attempt = 0; attempt < 16 && f->fd_ < 0; ++attempt) {
    f->temp_path_ =
        dir / ("." + path.filename().string() + ".tmp-" + pid + "-" + std::to_string(rd()));
    f->fd_ = ::open(f->temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f->fd_ < 0 && errno != EEXIST) break;
  }
  if (f->fd_ < 0) {
    const int err = errno;
    f->temp_path_.clear();
    return bad_input(path.string(), ": cannot create output file: ", errno_text(err));
  }
  return f;
}

Status AtomicFile::write(const void* data, size_t size) {
  const auto* p = static_cast<const char*>(data);
  size_t left = size;
  while (left > 0) {
    const ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(offset_));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      return bad_input(path_.string(), ": write failed: ", errno_text(err));
    }
    p += n;
    left -= static_cast<size_t>(n);
    offset_ += static_cast<uint64_t>(n);
  }
  file_size_ = std::max(file_size_, offset_);
  return Status::ok_status();
}

Status AtomicFile::write_sparse(const void* data, size_t size) {
  constexpr size_t kBlock = 4096;
  static const char kZero[kBlock] = {};
  const auto* p = static_cast<const char*>(data);
  size_t i = 0;
  while (i < size) {
    const size_t n = std::min(kBlock, size - i);
    if (n == kBlock && std::memcmp(p + i, kZero, kBlock) == 0) {
      offset_ += kBlock;  // leave a hole; the final size is fixed in commit()
    } else {
      MIXQ_RETURN_IF_ERROR(write(p + i, n));
    }
    i += n;
  }
  return Status::ok_status();
}

Status AtomicFile::write_zeros(size_t size) {
  static const char kZero[64] = {};
  while (size > 0) {
    const size_t n = std::min(size, sizeof(kZero));
    MIXQ_RETURN_IF_ERROR(write(kZero, n));
    size -= n;
  }
  return Status::ok_status();
}

Status AtomicFile::commit_as(const std::filesystem::path& final_path) {
  if (final_path.parent_path() != path_.parent_path()) {
    return internal_error(final_path.string(), ": commit_as must stay in the folder of ",
                          path_.string());
  }
  path_ = final_path;
  return commit();
}

Status AtomicFile::commit() {
  if (offset_ > file_size_) {
    // Trailing hole from write_sparse: extend the file to its logical size.
    if (::ftruncate(fd_, static_cast<off_t>(offset_)) != 0) {
      const int err = errno;
      return bad_input(path_.string(), ": cannot size output file: ", errno_text(err));
    }
    file_size_ = offset_;
  }
  if (::fsync(fd_) != 0) {
    const int err = errno;
    return bad_input(path_.string(), ": fsync failed: ", errno_text(err));
  }
  ::close(fd_);
  fd_ = -1;
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    return bad_input(path_.string(),
                     ": cannot rename temporary file into place: ", errno_text(err));
  }
  committed_ = true;
  // Make the rename durable.
  std::filesystem::path dir = path_.parent_path();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok_status();
}

Expected<std::string> read_file(const std::filesystem::path& path) {
  MIXQ_ASSIGN_OR_RETURN(auto mapped, MappedFile::open(path));
  return std::string(reinterpret_cast<const char*>(mapped->data()), mapped->size());
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view contents) {
  MIXQ_ASSIGN_OR_RETURN(auto file, AtomicFile::create(path));
  MIXQ_RETURN_IF_ERROR(file->write(contents.data(), contents.size()));
  return file->commit();
}

}  // namespace mixq
