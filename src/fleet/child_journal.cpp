#include "fleet/child_journal.hpp"

#include "fleet/shared_mapping.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fleet {

struct child_journal::header {
  char magic[8];
  uint32_t version;
  uint32_t slots;
  uint32_t run;
  uint32_t reserved;
  char boot_id[48];
};

namespace {

constexpr char child_journal_magic[8] = {'F', 'L', 'E', 'E', 'T', 'C', 'J', '1'};

std::atomic<child_journal*> installed_journal{nullptr};

caf::error child_journal_error(const std::string& path, const std::string& what) {
  return caf::make_error(errc::database_error, fmt::format("cannot {} the child journal {}: {}", what, path,
                                                           std::strerror(errno)));
}

} // namespace

child_journal::entry* child_journal::entries() {
  return reinterpret_cast<entry*>(static_cast<header*>(map_) + 1);
}

std::string_view child_journal::entry::name() const {
  return {label, strnlen(label, sizeof label)};
}

std::string current_boot_id() {
  std::ifstream in{"/proc/sys/kernel/random/boot_id"};
  std::string id;
  std::getline(in, id);
  return id;
}

std::optional<process_stat> read_process_stat(pid_t pid, zombies which) {
  std::ifstream in{fmt::format("/proc/{}/stat", pid)};
  std::string line;
  if (!in || !std::getline(in, line))
    return std::nullopt;
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  // cutime cstime priority nice threads itrealvalue starttime ...": comm may hold anything, so
  // the fields are counted from its closing parenthesis.
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream fields{line.substr(close + 1)};
  process_stat out;
  std::string skip;
  fields >> out.state;
  fields >> skip >> out.pgrp; // ppid, pgrp
  for (int i = 0; i < 14; ++i) // session .. itrealvalue
    fields >> skip;
  fields >> out.start_ticks;
  if (!fields || out.state == 'X' || (out.state == 'Z' && which == zombies::skip))
    return std::nullopt;
  return out;
}

caf::expected<std::unique_ptr<child_journal>> child_journal::open(const std::string& path, size_t slots) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return child_journal_error(path, "open");
  auto bytes = sizeof(header) + slots * sizeof(entry);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto err = child_journal_error(path, "read the owner of");
    ::close(fd);
    return err;
  }
  // Whoever can write this file can have us kill their choice of processes at the next start.
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    ::close(fd);
    return caf::make_error(errc::database_error,
                           fmt::format("the child journal {} is not a regular file of this user that only it may "
                                       "write (mode {:o}, owner {}): remove it, or make it so",
                                       path, st.st_mode & 07777, st.st_uid));
  }
  // Two processes on one journal would each take the other's children for orphans of a dead run.
  // A process-wide (POSIX) lock: a process may open its own journal again (the tests do).
  struct flock whole {};
  whole.l_type = F_WRLCK;
  whole.l_whence = SEEK_SET;
  if (::fcntl(fd, F_SETLK, &whole) != 0) {
    ::close(fd);
    return caf::make_error(errc::database_error,
                           fmt::format("the child journal {} is in use by another process (another fleetd on the "
                                       "same database, or another fleet-node of the same name and state-dir)",
                                       path));
  }
  auto map = map_shared_file(fd, static_cast<size_t>(st.st_size), bytes, "child journal", path);
  if (!map)
    return map.error();
  return std::unique_ptr<child_journal>(new child_journal(fd, *map, bytes, slots, current_boot_id()));
}

child_journal::child_journal(int fd, void* map, size_t bytes, size_t slots, std::string boot_id)
  : fd_(fd), map_(map), bytes_(bytes), slots_(slots) {
  auto* h = static_cast<header*>(map_);
  auto* entries = this->entries();
  bool valid = std::memcmp(h->magic, child_journal_magic, sizeof child_journal_magic) == 0 && h->version == 1
               && h->slots == slots_ && h->run != 0;
  // Before a reboot, start times counted from another boot: nothing of that run can still live.
  bool same_boot = valid && !boot_id.empty()
                   && std::string_view{h->boot_id, strnlen(h->boot_id, sizeof h->boot_id)} == boot_id;
  // Every run's entries, not only the last one's: a run killed while it stopped the orphans of
  // the run before it leaves those for the next. Stale ones are told apart by their start time.
  if (same_boot)
    for (size_t k = 0; k < slots_; ++k)
      if (entries[k].run != 0 && entries[k].pid > 1)
        previous_.push_back(entries[k]);
  run_ = valid && h->run + 1 != 0 ? h->run + 1 : 1;
  if (!same_boot) {
    std::memset(map_, 0, bytes_);
    std::memcpy(h->magic, child_journal_magic, sizeof child_journal_magic);
    h->version = 1;
    h->slots = static_cast<uint32_t>(slots_);
    std::memcpy(h->boot_id, boot_id.data(), std::min(boot_id.size(), sizeof h->boot_id - 1));
  }
  h->run = run_;
}

void child_journal::forget_previous() {
  std::lock_guard<std::mutex> guard{mtx_};
  auto* entries = this->entries();
  for (size_t k = 0; k < slots_; ++k)
    if (entries[k].run != run_)
      entries[k].run = 0;
  previous_.clear();
}

child_journal::~child_journal() {
  if (installed_journal.load() == this)
    installed_journal.store(nullptr);
  ::munmap(map_, bytes_);
  ::close(fd_);
}

size_t child_journal::note(pid_t pid, std::string_view label, int64_t at) {
  // The caller has not reaped `pid`, so it is still this child even if it ended already; and a
  // leader that ended may have left members of its group running, which the next start must stop.
  auto stat = read_process_stat(pid, zombies::include);
  if (!stat)
    return npos;
  std::lock_guard<std::mutex> guard{mtx_};
  auto* entries = this->entries();
  for (size_t k = 0; k < slots_; ++k) {
    auto slot = (hint_ + k) % slots_;
    auto& e = entries[slot];
    if (e.run != 0)
      continue;
    // A process can die between any two stores: the entry counts once its run is written last.
    e.pid = pid;
    e.start_ticks = stat->start_ticks;
    e.started_at = at;
    std::memset(e.label, 0, sizeof e.label);
    std::memcpy(e.label, label.data(), std::min(label.size(), sizeof e.label - 1));
    std::atomic_signal_fence(std::memory_order_seq_cst);
    e.run = run_;
    hint_ = (slot + 1) % slots_;
    return slot;
  }
  return npos;
}

void child_journal::clear(size_t slot) {
  if (slot >= slots_)
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  entries()[slot].run = 0;
}

void child_journal::install(child_journal* journal) {
  installed_journal.store(journal);
}

child_journal* child_journal::installed() {
  return installed_journal.load();
}

} // namespace fleet
