#pragma once

#include <caf/expected.hpp>

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fleet {

/// A record, beside the database, of the processes fleetd (or a fleet-node) starts and has not
/// reaped yet: exec attempts' programs and worker-pool processes. Each runs in a process group of
/// its own, which outlives fleetd when fleetd is killed; at the next start the record names them,
/// so that they are stopped before their attempts run again (stop_orphans), and never two copies
/// run at once.
///
/// A process is known by its pid together with its start time (field 22 of /proc/PID/stat, in
/// clock ticks since boot): a pid reused by an unrelated process is never taken for it, and a
/// record from before a reboot (another boot id) is not read at all. Like the start journal, the
/// file is a shared mapping that is never synced: the kernel keeps its pages when the process dies,
/// and a power loss takes the children with it.
class child_journal {
public:
  /// One child. 96 bytes.
  struct entry {
    uint32_t run = 0;        ///< which process start wrote it; 0: free
    int32_t pid = 0;         ///< also its process group
    uint64_t start_ticks = 0; ///< its start time, clock ticks since boot
    int64_t started_at = 0;  ///< ms since the epoch
    char label[72] = {};     ///< what it ran for: a worker id, or "pool NAME"; NUL-terminated

    std::string_view name() const;
  };

  /// Room for this many children at once; a start beyond it runs unrecorded (and is logged).
  static constexpr size_t default_slots = 16384;

  /// Opens or creates the journal at `path` (fleetd uses `<db>-children`), reads what the
  /// previous run left, and begins a new run. Refuses a file that another user owns or that
  /// others may write: its entries name processes to be killed.
  static caf::expected<std::unique_ptr<child_journal>> open(const std::string& path,
                                                            size_t slots = default_slots);

  child_journal(const child_journal&) = delete;
  child_journal& operator=(const child_journal&) = delete;
  ~child_journal();

  /// The children earlier runs started and did not reap, as they left them (until
  /// forget_previous).
  const std::vector<entry>& previous_run() const { return previous_; }
  /// The earlier runs' children were dealt with (stop_orphans): their entries go. Until then they
  /// stay in the file, so that a run killed before it stopped them leaves them to the next.
  void forget_previous();

  /// Notes a child just started (not yet reaped, so its pid is its own); returns its slot, or
  /// npos when the journal is full. Thread-safe.
  size_t note(pid_t pid, std::string_view label, int64_t at);
  /// The child in `slot` was reaped. Thread-safe.
  void clear(size_t slot);
  static constexpr size_t npos = static_cast<size_t>(-1);

  /// The journal that spawn_child notes every child in (none: children are not noted). fleetd and
  /// fleet-node install theirs at start, before any child starts, and keep it until they exit.
  static void install(child_journal* journal);
  static child_journal* installed();

private:
  struct header;
  child_journal(int fd, void* map, size_t bytes, size_t slots, std::string boot_id);
  entry* entries(); ///< the slots, after the header

  int fd_;
  void* map_;
  size_t bytes_;
  size_t slots_;
  uint32_t run_ = 0;
  std::mutex mtx_;
  size_t hint_ = 0;
  std::vector<entry> previous_;
};

/// The start time of process `pid` (clock ticks since boot) and its process group, from
/// /proc/PID/stat; none if there is no such process (or, unless asked for, it is a zombie).
struct process_stat {
  uint64_t start_ticks = 0;
  pid_t pgrp = 0;
  char state = '?';
};
/// Which processes read_process_stat reports: a zombie has ended, but its group may live on.
enum class zombies { skip, include };

std::optional<process_stat> read_process_stat(pid_t pid, zombies which = zombies::skip);

/// This boot's id (/proc/sys/kernel/random/boot_id), empty if unknown.
std::string current_boot_id();

} // namespace fleet
