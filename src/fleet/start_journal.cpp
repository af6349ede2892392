#include "fleet/start_journal.hpp"

#include "fleet/shared_mapping.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fleet {

struct start_journal::header {
  char magic[8];
  uint32_t version;
  uint32_t slots;
  uint32_t run;  ///< the run writing now
  uint32_t next; ///< where that run writes its next entry
};

namespace {

constexpr char start_journal_magic[8] = {'F', 'L', 'E', 'E', 'T', 'S', 'J', '1'};

caf::error start_journal_error(const std::string& path, const char* what) {
  return caf::make_error(errc::database_error,
                         fmt::format("cannot {} the start journal {}: {}", what, path, std::strerror(errno)));
}

} // namespace

caf::expected<std::unique_ptr<start_journal>> start_journal::open(const std::string& path, size_t slots) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return start_journal_error(path, "open");
  auto bytes = sizeof(header) + slots * sizeof(entry);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto err = start_journal_error(path, "size");
    ::close(fd);
    return err;
  }
  auto map = map_shared_file(fd, static_cast<size_t>(st.st_size), bytes, "start journal", path);
  if (!map)
    return map.error();
  return std::unique_ptr<start_journal>(new start_journal(fd, *map, bytes, slots));
}

start_journal::start_journal(int fd, void* map, size_t bytes, size_t slots)
  : fd_(fd), map_(map), bytes_(bytes), slots_(slots) {
  auto* h = static_cast<header*>(map_);
  auto* entries = reinterpret_cast<entry*>(h + 1);
  bool valid = std::memcmp(h->magic, start_journal_magic, sizeof start_journal_magic) == 0 && h->version == 1
               && h->slots == slots_ && h->next < slots_;
  if (valid) {
    // Oldest first: the ring from where the previous run would have written next.
    for (size_t k = 0; k < slots_; ++k) {
      const auto& e = entries[(h->next + k) % slots_];
      if (e.run == h->run && h->run != 0 && e.seq > 0 && e.attempt > 0)
        previous_.push_back(e);
    }
    run_ = h->run + 1 == 0 ? 1 : h->run + 1;
  } else {
    std::memset(map_, 0, bytes_);
    std::memcpy(h->magic, start_journal_magic, sizeof start_journal_magic);
    h->version = 1;
    h->slots = static_cast<uint32_t>(slots_);
    run_ = 1;
  }
  h->run = run_;
  h->next = 0;
}

start_journal::~start_journal() {
  ::munmap(map_, bytes_);
  ::close(fd_);
}

size_t start_journal::note(int64_t seq, int32_t attempt, int64_t at) {
  auto* h = static_cast<header*>(map_);
  auto& e = reinterpret_cast<entry*>(h + 1)[next_];
  // A process can die between any two stores: the entry counts only once its run is written last.
  e.run = 0;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  e.seq = seq;
  e.attempt = attempt;
  e.started_at = at;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  e.run = run_;
  auto slot = next_;
  next_ = (next_ + 1) % slots_;
  h->next = static_cast<uint32_t>(next_);
  return slot;
}

void start_journal::clear(size_t slot, int64_t seq) {
  auto& e = reinterpret_cast<entry*>(static_cast<header*>(map_) + 1)[slot % slots_];
  if (e.seq == seq)
    e.run = 0;
}

} // namespace fleet
