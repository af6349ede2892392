// The queues' windows of runnable tasks: filling one (and the other queues' low ones in the same
// snapshot), taking a submit's tasks in without a read, and a group's next tasks when one of its
// attempts leaves.

#include "actors/fleet_manager.hpp"
#include "actors/fleet_manager_internal.hpp"
#include "fleet/log.hpp"
#include "fleet/text.hpp"
#include "fleetd/error.hpp"

#include <caf/detail/scope_guard.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace fleet {

using namespace manager_detail;

namespace {

/// About how much task data one read of a queue's window brings in: with tasks of 1 MiB (the
/// largest fleet.max-task-data allows by default) a read takes 8, not 256.
constexpr size_t window_bytes = size_t{8} << 20;

/// How many tasks of a submit a queue's window takes in at most without a read, and how much
/// memory the windows take in for one submit at most (fresh_row_bytes and its data per task).
constexpr size_t fresh_window_rows = 4096;
constexpr size_t fresh_budget_bytes = size_t{32} << 20;
constexpr size_t fresh_row_bytes = 256;

} // namespace

bool fleet_manager_state::held_back(const runnable_task& row) const {
  return commits_.is_uncommitted(row.seq) || attempts_.runs(row.seq) || cancelling_.count(row.batch_id) != 0;
}

bool fleet_manager_state::fill_ready(queue_slot& q) {
  if (!q.window.empty() || q.window.exhausted())
    return true;
  auto size = std::max<size_t>(reader_->window_rows(), 2 * static_cast<size_t>(cfg_.max_concurrent_workers));
  // The windows of the other queues that run low are read with this one, in one snapshot: a
  // queue's tasks lie among the other queues' in the file, so each page read holds tasks of many
  // queues, and read one queue at a time (with commits between) it is read again for each.
  auto shared = reader_->begin_reads();
  if (!shared || !*shared) {
    if (!shared)
      spdlog::warn("cannot begin a read transaction: {}", error_text(shared.error()));
    return read_window(q, size, false);
  }
  auto end = caf::detail::make_scope_guard([this] {
    if (auto err = reader_->end_reads())
      spdlog::warn("cannot end a read transaction: {}", error_text(err));
  });
  auto filled = read_window(q, size, false);
  if (filled)
    for (auto& other : queues_.all())
      if (&other != &q && !other.limits.paused && !other.window.exhausted() && other.window.size() < size / 2
          && !read_window(other, size, true))
        break;
  return filled;
}

bool fleet_manager_state::read_window(queue_slot& q, size_t size, bool top_up) {
  auto read = [this, &q](size_t limit, const std::optional<run_position>& from) {
    ++window_reads_;
    return reader_->next_runnable(q.name, limit, from);
  };
  // A task of a group at its cap stays out: the tasks behind it come in, and the group's next
  // ones are read when it frees a slot (read_group).
  auto skip = [this, &q](const runnable_task& row) {
    return held_back(row) || !queues_.claim(q, row.spec.group, {row.spec.priority, row.seq});
  };
  // Held starts read as pending too.
  auto uncommitted = commits_.uncommitted() + starts_held_;
  auto err = top_up && !q.window.empty() ? q.window.top_up(size, read, skip, window_bytes)
                                         : q.window.fill(size, uncommitted, read, skip, window_bytes);
  if (!err)
    return true;
  if (err == errc::database_damaged)
    note_write_outcome(err);
  else
    spdlog::error("cannot read runnable tasks: {}", error_text(err));
  return false;
}

void fleet_manager_state::offer_fresh(const std::string& batch_id, std::vector<task>& tasks, int64_t first_seq,
                                      int64_t now, bool read_since_stored) {
  // The runnable ones by queue (tasks that wait, delayed or on dependencies, are not), in run
  // order. Only those a window may take become window rows: a million-task submit into a queue
  // does not cost a million rows here.
  std::map<std::string, std::vector<size_t>> by_queue;
  for (size_t i = 0; i < tasks.size(); ++i) {
    auto& t = tasks[i];
    if (!t.after.empty() || start_time(t, now) > now)
      continue;
    if (t.queue.empty())
      t.queue = default_queue;
    by_queue[t.queue].push_back(i);
  }
  auto max_rows = std::max<size_t>(fresh_window_rows, 2 * static_cast<size_t>(cfg_.max_concurrent_workers));
  size_t budget = fresh_budget_bytes;
  for (auto& [name, indices] : by_queue) {
    auto* q = queues_.find(name);
    if (q == nullptr)
      continue; // its first read comes from the top
    auto& window = q->window;
    if (!window.exhausted() && !window.read_up_to())
      continue; // the next read starts from the top and meets them all
    std::stable_sort(indices.begin(), indices.end(),
                     [&](size_t a, size_t b) { return tasks[a].priority > tasks[b].priority; });
    if (!window.exhausted()) {
      // Only those that outrank where the reads stopped: the reads meet the others.
      auto above = window.read_up_to()->priority;
      indices.erase(std::find_if(indices.begin(), indices.end(), [&](size_t i) { return tasks[i].priority <= above; }),
                    indices.end());
    }
    auto room = std::min(max_rows > window.size() ? max_rows - window.size() : 0, budget / fresh_row_bytes);
    // One more than may enter says that not all of them do.
    if (indices.size() > room + 1)
      indices.resize(room + 1);
    std::vector<runnable_task> fresh;
    fresh.reserve(indices.size());
    for (auto i : indices) {
      runnable_task r;
      r.seq = first_seq + static_cast<int64_t>(i);
      r.batch_id = batch_id;
      r.ready_at = now;
      r.spec = std::move(tasks[i]);
      r.spec.run_at = 0;
      r.spec.delay_ms = 0;
      budget -= std::min(budget, fresh_row_bytes + r.spec.data.size());
      fresh.push_back(std::move(r));
    }
    // A read that came after the commit met these tasks: those it took into the window are there
    // (those it started are held back). Entering twice would start them twice.
    std::unordered_set<int64_t> in_window;
    if (read_since_stored)
      for (const auto& row : window.rows())
        if (row.seq >= first_seq)
          in_window.insert(row.seq);
    auto skip = [this, q, &in_window](const runnable_task& row) {
      return held_back(row) || in_window.count(row.seq) != 0
             || !queues_.claim(*q, row.spec.group, {row.spec.priority, row.seq});
    };
    // A group at its cap ends the entry rather than leaving its tasks out: the tasks left out are
    // read again with each end of the group's attempts, a pass over the index each time.
    std::unordered_map<std::string, int32_t> entering;
    auto stops = [this, q, &entering, &in_window](const runnable_task& row) {
      if (held_back(row))
        return true;
      if (in_window.count(row.seq) != 0)
        return false; // claimed when it was read, and skipped
      const auto& group = row.spec.group;
      if (group.empty() || q->limits.group_max_workers <= 0)
        return false; // no cap: nothing to count
      auto& n = entering[group];
      if (q->dropped.count(group) != 0 || queue_scheduler::at_cap(*q, group, n))
        return true;
      ++n;
      return false;
    };
    if (!window.add_fresh(fresh, skip, stops, window.size() + room))
      queues_.reset_window(*q);
  }
}

void fleet_manager_state::read_group(queue_slot& q, const std::string& group) {
  auto dropped = q.dropped.find(group);
  if (dropped == q.dropped.end())
    return;
  const auto& up_to = q.window.read_up_to();
  if (!up_to) {
    q.dropped.erase(dropped); // the next read starts from the top and meets them all
    return;
  }
  auto cap = q.limits.group_max_workers;
  auto claimed = [&] {
    auto i = q.claimed.find(group);
    return i == q.claimed.end() ? 0 : i->second;
  };
  // The group's tasks from the first one left out up to where the window's reads stopped, in run
  // order, a slice at a time: those held back or already in the window are passed over.
  auto from = dropped->second;
  constexpr size_t slice = 16;
  for (;;) {
    ++window_reads_;
    auto rows = reader_->runnable_of_group(q.name, group, slice, from, *up_to);
    if (!rows) {
      spdlog::error("cannot read the runnable tasks of group {} of queue {}: {}", printable(group), q.name,
                    error_text(rows.error()));
      return; // still dropped: the next free slot reads again
    }
    for (auto& row : *rows) {
      if (held_back(row) || q.window.contains(row.seq))
        continue;
      if (cap > 0 && claimed() >= cap) {
        dropped->second = {row.spec.priority, row.seq}; // still dropped, from here on
        return;
      }
      ++q.claimed[group];
      q.window.insert(std::move(row));
    }
    if (rows->size() < slice)
      break;
    // On after the slice's last task (a seq is never reused, so seq + 1 is the next position).
    from = {rows->back().spec.priority, rows->back().seq + 1};
  }
  q.dropped.erase(dropped);
}

void fleet_manager_state::attempt_left(const running_attempt& r) {
  if (!queues_.on_end(r.queue, r.group))
    return;
  if (auto* q = queues_.find(r.queue))
    read_group(*q, r.group);
}

} // namespace fleet
