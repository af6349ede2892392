#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fleet {

/// A record, beside the database, of the attempts fleetd starts on its own workers: one entry is
/// written into a shared memory mapping just before each attempt starts. Nothing is synced, and
/// nothing needs to be: the kernel keeps the pages when the process dies, and surviving the
/// process is all this is for. Group commit records an attempt's start a millisecond or more
/// after the worker got it, so an attempt that takes fleetd down at once (a worker that crashes,
/// a program that kills its parent) would leave no trace in the database and run again forever.
/// At the next start, `previous_run()` names such attempts, and the recovery counts them against
/// fleet.max-interruptions. After a power loss the file may hold anything; a bad header resets it.
class start_journal {
public:
  /// One attempt start. 24 bytes.
  struct entry {
    int64_t seq = 0;        ///< the task's row
    int32_t attempt = 0;    ///< 1-based
    uint32_t run = 0;       ///< which process start wrote it
    int64_t started_at = 0; ///< ms since the epoch
  };

  /// Room for this many starts not yet committed: more than fleetd can run at once (100,000).
  static constexpr size_t default_slots = 131072;

  /// Opens or creates the journal at `path` (fleetd uses `<db>-starts`), reads what the previous
  /// run wrote, and begins a new run.
  static caf::expected<std::unique_ptr<start_journal>> open(const std::string& path,
                                                            size_t slots = default_slots);

  start_journal(const start_journal&) = delete;
  start_journal& operator=(const start_journal&) = delete;
  ~start_journal();

  /// The starts the previous run wrote and did not clear, oldest first.
  const std::vector<entry>& previous_run() const { return previous_; }

  /// Notes that attempt `attempt` of task `seq` starts now; returns the entry's slot. Memory
  /// writes only, no system call.
  size_t note(int64_t seq, int32_t attempt, int64_t at);

  /// The start in `slot` is committed to the database: the entry is no longer needed (unless the
  /// slot went to another start since).
  void clear(size_t slot, int64_t seq);

private:
  struct header;
  start_journal(int fd, void* map, size_t bytes, size_t slots);

  int fd_;
  void* map_;
  size_t bytes_;
  size_t slots_;
  uint32_t run_ = 0;
  size_t next_ = 0;
  std::vector<entry> previous_;
};

} // namespace fleet
