#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

namespace fleet {

/// Lifecycle of a batch, derived from the counts of its tasks (never stored).
enum class batch_state : uint8_t { pending, processing, completed, failed, partial, cancelled };

std::string to_string(batch_state x);

/// The figures a batch's state is derived from.
struct batch_counts {
  int64_t total = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t cancelled = 0;
  bool started = false;          ///< some attempt has started
  bool cancel_requested = false; ///< cancel_batch accepted it
};

/// pending: nothing started; processing: started, not finished; once every task is terminal:
/// completed (all succeeded), failed (all failed), partial (some of each); cancelled once cancel_batch took it.
batch_state derive_state(const batch_counts& c);

/// Finished tasks / total, in [0, 1].
double progress(const batch_counts& c);

bool is_finished(const batch_counts& c);

/// Answer to batch_status.
struct batch_status {
  std::string batch_id{};
  batch_state status = batch_state::pending;
  int64_t total = 0;
  int64_t completed = 0; ///< succeeded tasks
  int64_t failed = 0;
  int64_t cancelled = 0;
  double progress = 0;
  int64_t created_at = 0;  ///< ms since epoch
  int64_t started_at = 0;  ///< 0 until the first attempt
  int64_t finished_at = 0; ///< 0 until every task is terminal
  bool paused = false;     ///< no new attempts until resumed
  int64_t scheduled = 0;   ///< delayed tasks waiting for their run_at
  int64_t next_run_at = 0; ///< ms since epoch when the first of them may start; 0 if none
  /// The client key it was submitted with (an idempotent submit), empty if none; a schedule's
  /// firing has "schedule:NAME@SLOT" (or "schedule:NAME@run:TIME" for `schedule run`).
  std::string key{};
  int64_t blocked = 0; ///< tasks waiting for their dependencies to succeed
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_status& x) {
  return f(caf::meta::type_name("fleet.batch_status"), x.batch_id, x.status, x.total, x.completed,
           x.failed, x.cancelled, x.progress, x.created_at, x.started_at, x.finished_at, x.paused,
           x.scheduled, x.next_run_at, x.key, x.blocked);
}

} // namespace fleet
