#pragma once

#include "fleet/sqlite.hpp"

#include <caf/expected.hpp>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace fleet::sqlite {

/// Copies a WAL database's committed pages into the database file on a thread of its own, through a
/// connection of its own, so that the writer's commits do not wait for that copy and its fsync.
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the writer's
/// thread: with the writer setting fleetd's pace, each one held every attempt up
/// (docs/BENCHMARKS.md, 2026-12-06 20:35).
///
/// Installed as the writing connection's WAL hook, in place of the automatic checkpoint: a commit
/// that leaves at least `wake_frames` frames in the WAL wakes the thread. Should the WAL still reach
/// `inline_frames` (the thread behind, or its checkpoints held up), the writer checkpoints itself,
/// as the automatic checkpoint would have: the WAL stays bounded. A checkpoint is PASSIVE: it copies
/// what no reader still needs and waits for no lock, so neither the writer nor a reader waits for
/// it. Its connection syncs as `synchronous` says, so a frame leaves the WAL only once the database
/// file holds it durably; a checkpoint cut short (kill -9) is recovered by SQLite as always.
class wal_checkpointer {
public:
  /// Opens the second connection to `path` and hooks `writer`. `writer` must outlive this object,
  /// and it must not commit on another thread while this constructor or the destructor runs.
  static caf::expected<std::unique_ptr<wal_checkpointer>> start(database& writer, const std::string& path,
                                                                const std::string& synchronous,
                                                                int wake_frames = 1000, int inline_frames = 4000);

  /// Stops the thread, and gives `writer` SQLite's automatic checkpoint back.
  ~wal_checkpointer();
  wal_checkpointer(const wal_checkpointer&) = delete;
  wal_checkpointer& operator=(const wal_checkpointer&) = delete;

  /// Checkpoints done so far, on the thread and by the writer itself (for tests and logs).
  struct counts {
    int64_t on_thread = 0;
    int64_t by_writer = 0;
    int64_t failed = 0;
  };
  counts done() const;

  /// Wakes the thread and waits until it finished a checkpoint begun after this call (tests).
  void checkpoint_now();

private:
  wal_checkpointer(database& writer, database own, int wake_frames, int inline_frames);
  static int on_commit(void* self, sqlite3* db, const char* schema, int frames);
  void loop();

  database& writer_;
  database own_;
  int wake_frames_;
  int inline_frames_;
  mutable std::mutex mtx_;
  std::condition_variable wanted_;
  std::condition_variable finished_;
  bool wake_ = false;
  bool stopping_ = false;
  uint64_t requests_ = 0; ///< checkpoint_now's requests
  uint64_t served_ = 0;   ///< the last request that a finished checkpoint began after
  counts counts_;
  std::thread thread_; // last: starts once everything above exists
};

} // namespace fleet::sqlite
