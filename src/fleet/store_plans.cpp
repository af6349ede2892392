#include "fleet/store_plans.hpp"

#include "fleet/json_text.hpp"
#include "fleet/store.hpp"
#include "fleet/text.hpp"
#include "fleetd/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <set>
#include <utility>

namespace fleet {

namespace {

struct replay_candidate {
  bool skipped = false;   ///< failed without running: a dependency of it had failed or was cancelled
  bool named = false;
  bool kept_back = false; ///< a dependency outside the replay failed or was cancelled
  std::string task_id;
};

} // namespace

void batch_delta::note_end(const attempt_ended& x) {
  at = std::max(at, x.at);
  switch (x.next) {
    case task_disposition::succeeded: ++succeeded; break;
    case task_disposition::failed: ++failed; break;
    case task_disposition::cancelled: ++cancelled; break;
    case task_disposition::retry: ++retries; break;
    case task_disposition::requeue: break;
  }
  if (x.next == task_disposition::succeeded || x.next == task_disposition::failed)
    duration_ms += x.duration_ms;
  terminal = terminal || is_terminal(x.next);
}

std::string attempt_end_detail(const attempt_ended& x) {
  nlohmann::json detail{{"attempt", x.attempt}, {"outcome", to_string(x.outcome)}};
  if (!x.error.empty())
    detail["error"] = x.error;
  if (x.next == task_disposition::retry)
    detail["not_before"] = x.not_before;
  return dump_json(detail);
}

std::map<std::pair<int64_t, int32_t>, const attempt_started*>
starts_ended_within(const std::vector<transition>& changes) {
  std::set<std::pair<int64_t, int32_t>> ended;
  for (const auto& change : changes)
    if (auto x = std::get_if<attempt_ended>(&change))
      ended.emplace(x->seq, x->attempt);
  std::map<std::pair<int64_t, int32_t>, const attempt_started*> out;
  if (ended.empty())
    return out;
  for (const auto& change : changes)
    if (auto x = std::get_if<attempt_started>(&change); x != nullptr && ended.count({x->seq, x->attempt}) > 0)
      out.emplace(std::make_pair(x->seq, x->attempt), x);
  return out;
}

caf::error attempt_already_stored(const attempt_started& x, const std::string& worker_id, int64_t started_at) {
  return caf::make_error(errc::database_error,
                         fmt::format("attempt {} of task {} of batch {} is stored already (worker {}, started at {}): "
                                     "this start (worker {}, at {}) is not written",
                                     x.attempt, quoted_input(x.task_id), x.batch_id, worker_id, started_at,
                                     x.worker_id, x.at));
}

caf::error end_without_start(const attempt_ended& x) {
  return caf::make_error(errc::database_error,
                         fmt::format("attempt {} of task {} of batch {} ended, but its start is not stored: the "
                                     "end is not written before it",
                                     x.attempt, quoted_input(x.task_id), x.batch_id));
}

caf::expected<std::vector<int64_t>> plan_replay(const std::string& batch_id, const std::vector<std::string>& named,
                                                const replay_reads& reads) {
  std::map<int64_t, replay_candidate> set; // by seq: events in submission order
  if (named.empty()) {
    auto failed = reads.failed();
    if (!failed)
      return failed.error();
    for (auto& row : *failed)
      set[row.seq] = {row.skipped, true, false, std::move(row.task_id)};
  } else {
    for (const auto& id : named) {
      auto row = reads.named(id);
      if (!row)
        return row.error();
      set[row->seq] = {row->skipped, true, false, id};
      if (row->dependents == 0)
        continue;
      auto below = reads.skipped_below(row->seq);
      if (!below)
        return below.error();
      for (auto seq : *below)
        set.try_emplace(seq, replay_candidate{true, false, false, {}});
    }
  }
  // A skipped task comes back only if every dependency it has succeeded or comes back too;
  // one that stays out keeps its skipped dependents out with it.
  std::vector<int64_t> kept_back;
  for (auto& [seq, c] : set) {
    if (!c.skipped)
      continue;
    auto deps = reads.dependencies_of(seq);
    if (!deps)
      return deps.error();
    std::string blocker;
    for (const auto& d : *deps)
      if ((d.state == "failed" || d.state == "cancelled") && set.count(d.seq) == 0 && blocker.empty())
        blocker = fmt::format("task {} {}", quoted_input(d.task_id), d.state == "failed" ? "failed" : "was cancelled");
    if (blocker.empty())
      continue;
    if (c.named)
      return caf::make_error(errc::invalid_task,
                             fmt::format("task {} of batch {} did not run because {}, which is not replayed with it: "
                                         "replay that task (or the whole batch)",
                                         quoted_input(c.task_id), batch_id, blocker));
    c.kept_back = true;
    kept_back.push_back(seq);
  }
  while (!kept_back.empty()) {
    auto seq = kept_back.back();
    kept_back.pop_back();
    auto below = reads.dependents_of(seq);
    if (!below)
      return below.error();
    for (auto d : *below) {
      auto i = set.find(d);
      if (i == set.end() || !i->second.skipped || i->second.kept_back)
        continue;
      if (i->second.named)
        return caf::make_error(errc::invalid_task,
                               fmt::format("task {} of batch {} runs after a task that stays failed: replay the task "
                                           "that failed first (or the whole batch)",
                                           quoted_input(i->second.task_id), batch_id));
      i->second.kept_back = true;
      kept_back.push_back(d);
    }
  }
  std::vector<int64_t> out;
  for (const auto& [seq, c] : set)
    if (!c.kept_back)
      out.push_back(seq);
  return out;
}

caf::expected<std::vector<transition>>
plan_unrecorded_starts(const std::vector<start_journal::entry>& starts, int64_t now, int32_t max_interruptions,
                       const std::function<caf::expected<std::optional<journal_task_row>>(int64_t seq)>& task,
                       recovery& out) {
  std::set<std::pair<int64_t, int32_t>> seen;
  std::vector<transition> lost;
  for (const auto& e : starts) {
    if (!seen.emplace(e.seq, e.attempt).second)
      continue;
    auto row = task(e.seq);
    if (!row)
      return row.error();
    // Only a start that never reached the database: the task still waits, at an earlier attempt.
    if (!*row || (*row)->state != "pending" || (*row)->attempts >= e.attempt)
      continue;
    const auto& t = **row;
    attempt_started start{e.seq, t.batch_id, t.task_id, e.attempt, "unrecorded", std::min(e.started_at, now), {}};
    auto end = lost_attempt_end(e.seq, t.batch_id, t.task_id, e.attempt, now, 0, t.orphaned + 1, max_interruptions,
                                "fleetd stopped during the attempt, before its start was recorded");
    if (end.next == task_disposition::failed)
      out.failed.push_back(end);
    else
      ++out.unrecorded;
    lost.emplace_back(std::move(start));
    lost.emplace_back(std::move(end));
  }
  return lost;
}

std::vector<open_attempt_row> take_held(std::vector<open_attempt_row>& running, bool hold_node_attempts) {
  std::vector<open_attempt_row> held;
  if (!hold_node_attempts)
    return held;
  auto kept = std::stable_partition(running.begin(), running.end(), [](const open_attempt_row& r) {
    return r.node.empty() || r.worker_id.empty() || r.cancelling;
  });
  held.assign(std::make_move_iterator(kept), std::make_move_iterator(running.end()));
  running.erase(kept, running.end());
  return held;
}

std::pair<std::vector<transition>, std::vector<orphan_event>>
plan_interrupted(const std::vector<open_attempt_row>& running, int64_t now, int32_t max_interruptions,
                 const std::vector<stopped_orphan>& orphans, recovery& out) {
  std::map<std::string, const stopped_orphan*> stopped; // by worker id
  for (const auto& o : orphans)
    if (o.stopped())
      stopped.emplace(o.label, &o);
  std::map<std::string, std::pair<std::string, std::string>> orphan_tasks; // worker id -> batch, task
  std::vector<transition> ends;
  for (const auto& r : running) {
    std::string error = "fleetd stopped during the attempt";
    if (auto o = stopped.find(r.worker_id); o != stopped.end()) {
      error += fmt::format("; its program (process group {}) was still running and was stopped with {} before "
                           "the attempt ran again",
                           o->second->pid, o->second->how);
      orphan_tasks[o->first] = {r.batch_id, r.task_id};
    }
    if (r.worker_id.empty()) {
      // Running without its attempt's row (a store an older fleetd left so): the attempt is
      // counted in its task, so it gets a row, as an unrecorded start from the journal does.
      error += "; its start was not recorded";
      ends.emplace_back(attempt_started{r.seq, r.batch_id, r.task_id, r.attempt, "unrecorded", now, {}});
    }
    // Its end is unknown: fleetd's downtime, and the other run's clock, would count as its duration.
    auto end = lost_attempt_end(r.seq, r.batch_id, r.task_id, r.attempt, now, 0, r.orphaned + 1, max_interruptions,
                                std::move(error));
    if (end.next == task_disposition::failed)
      out.failed.push_back(end);
    else
      ++out.requeued;
    ends.emplace_back(std::move(end));
  }
  std::vector<orphan_event> events;
  for (const auto& [label, o] : stopped) {
    auto task = orphan_tasks[label];
    events.push_back({task.first, task.second, o});
  }
  return {std::move(ends), std::move(events)};
}

} // namespace fleet
