#pragma once

#include "fleet/transitions.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

namespace fleet {

/// A window of the runnable index, in run order: the tasks the manager starts next. Reads the
/// index in slices so that a million pending tasks cost the manager a window, not a million
/// entries. Knows nothing of SQLite or actors: the manager hands it the read.
///
/// Invariant: the window never holds a task that `skip` rejected when it was read, and a read
/// goes on where the last one stopped until `invalidate`.
class ready_window {
public:
  /// Reads up to `limit` runnable tasks in run order, after `from` (from the top if none).
  using read_fn
    = std::function<caf::expected<std::vector<runnable_task>>(size_t limit, const std::optional<run_position>& from)>;
  /// True for a task that must not enter the window (running, its change uncommitted, its batch
  /// being cancelled).
  using skip_fn = std::function<bool(const runnable_task&)>;

  /// Every way a task can become runnable again (submit, due retry, resume, replay, cancel, lost
  /// node) calls this: the next read starts from the top.
  void invalidate();
  /// The index holds no task for this window (a queue just made): the reads are done, and tasks
  /// stored from now on come through add_fresh.
  void known_empty();

  /// Reads until the window holds a task or the index has no more. `size` is how many tasks one
  /// read asks for at most (fewer as read_size says, for `budget_bytes`); `uncommitted` how many
  /// tasks still read as pending although a change of theirs waits for its commit (a read from
  /// the top asks for that many more, within the budget too, since it meets them all).
  caf::error fill(size_t size, size_t uncommitted, const read_fn& read, const skip_fn& skip,
                  size_t budget_bytes = SIZE_MAX);

  /// Reads on after where the reads stopped until the window holds `size` tasks and no more than
  /// about `budget_bytes` of them (one read, sized as `fill`'s), so that windows read together
  /// share the pages they meet. Nothing before a first read (`fill` reads from the top) or once
  /// the reads found the end.
  caf::error top_up(size_t size, const read_fn& read, const skip_fn& skip, size_t budget_bytes = SIZE_MAX);

  /// Takes the first task of the window for which `fits` is true; the tasks before it stay (a task
  /// that cannot start now lets the ones behind it pass).
  std::optional<runnable_task> take_first(const std::function<bool(const runnable_task&)>& fits);

  /// Puts a task read apart from the window's reads (a group's next tasks) in its place in run
  /// order. It must come before where the reads stopped (`read_up_to`): the reads meet the rest.
  void insert(runnable_task t);
  /// Tasks just stored, in run order, each with a seq above every task stored before, so that a
  /// submit costs no read: those that no later read would meet enter the window unless `skip`
  /// rejects them. If the reads had found the end, they enter until one that `stops` (a group at
  /// its cap) or the room (`max_rows`) runs out, and the reads go on from the last one that
  /// entered. False, with nothing entered, if that cannot be done: the window must be read again
  /// from the top instead.
  bool add_fresh(std::vector<runnable_task>& fresh, const skip_fn& skip, const skip_fn& stops, size_t max_rows);
  /// Whether the window holds task `seq`.
  bool contains(int64_t seq) const;
  const std::deque<runnable_task>& rows() const { return ready_; }
  /// Where the reads stopped; none before the first read since `invalidate`.
  const std::optional<run_position>& read_up_to() const { return read_up_to_; }

  /// How many tasks the next read should ask for: `max_rows`, fewer where the tasks read so far
  /// were big, so that a read brings about `budget_bytes` of them at most (always one). Before
  /// any read, at most `first_rows`.
  size_t read_size(size_t max_rows, size_t budget_bytes, size_t first_rows = 64) const;

  bool empty() const { return ready_.empty(); }
  size_t size() const { return ready_.size(); }
  /// The last read found the end of the index.
  bool exhausted() const { return exhausted_; }
  /// Nothing to start: no task, and the last read found the end.
  bool idle() const { return ready_.empty() && exhausted_; }
  /// `f` runs whenever the window stops being idle (a task entered, or the reads start again), so
  /// that a scheduler can leave idle windows out of its choice until then.
  void on_wake(std::function<void()> f) { on_wake_ = std::move(f); }

private:
  /// One read of up to `limit` tasks after read_up_to_: the tasks `skip` lets pass go to the back.
  caf::error read_more(size_t limit, const read_fn& read, const skip_fn& skip);
  /// Runs on_wake_ at the end of a change that took the window out of idle.
  class wake_check;

  std::deque<runnable_task> ready_;
  bool exhausted_ = false;
  std::optional<run_position> read_up_to_;
  /// The mean size of the tasks read so far (0: none read yet), kept across invalidations.
  double row_bytes_ = 0;
  std::function<void()> on_wake_;
};

} // namespace fleet
