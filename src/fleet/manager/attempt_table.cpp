#include "fleet/manager/attempt_table.hpp"

#include "fleetd/error.hpp"
#include "fleet/retry_policy.hpp"
#include "fleet/text.hpp"

#include <caf/sec.hpp>
#include <fmt/format.h>

#include <algorithm>

namespace fleet {

namespace {

/// What every end of `r` at `now` says, whatever the outcome.
attempt_ended end_at(const running_attempt& r, int64_t now) {
  attempt_ended end;
  end.seq = r.seq;
  end.batch_id = r.batch_id;
  end.task_id = r.task_id;
  end.attempt = r.attempt;
  end.at = now;
  end.duration_ms = now - r.spawned_at;
  return end;
}

/// An error as it is stored: UTF-8, and at most `max` bytes, cut at a character with a note of
/// how long it was.
std::string cut_error(std::string_view error, size_t max) {
  if (error.size() <= max) {
    auto text = to_utf8(error);
    if (text.size() <= max)
      return text;
  }
  auto note = fmt::format(" [cut: the error held {} bytes, over fleet.max-task-result]", error.size());
  auto room = max > note.size() ? max - note.size() : max;
  auto text = to_utf8(utf8_head(error, room));
  auto out = std::string{utf8_head(text, room)};
  if (out.size() + note.size() <= max)
    out += note;
  return out;
}

} // namespace

attempt_ended end_of_attempt(const running_attempt& r, const caf::expected<task_outcome>& outcome,
                             const fleet_config& fleet, int64_t now,
                             const std::function<double()>& unit_random, size_t max_result_bytes) {
  auto end = end_at(r, now);
  auto cfg = effective_config(fleet, r.policy);
  if (outcome && outcome->success) {
    // Whatever a worker (or a remote node) wrote, what is stored and sent on is UTF-8. Bytes that
    // are not become U+FFFD (3 bytes each), so the limit is checked before and after.
    auto bytes = outcome->result.size();
    if (bytes <= max_result_bytes) {
      end.result = to_utf8(outcome->result);
      bytes = end.result.size();
    }
    if (bytes <= max_result_bytes) {
      end.outcome = attempt_outcome::succeeded;
      end.next = task_disposition::succeeded;
      return end;
    }
    end.result.clear();
    end.outcome = attempt_outcome::failed;
    end.error = fmt::format("the result of {} bytes is over fleet.max-task-result ({} bytes)", bytes,
                            max_result_bytes);
    end.next = task_disposition::failed;
    return end;
  }
  if (!outcome && outcome.error() == caf::sec::request_timeout) {
    end.outcome = attempt_outcome::timed_out;
    // The deadline the attempt started with (the configuration may have changed since).
    end.error = fmt::format("worker timed out after {} ms", r.deadline - r.spawned_at);
  } else {
    end.outcome = attempt_outcome::failed;
    end.error = cut_error(outcome ? outcome->error : error_text(outcome.error()), max_result_bytes);
    if (end.error.empty())
      end.error = "task failed";
  }
  auto counted = r.counted_before + 1;
  auto may_retry = !outcome || outcome->retry; // a worker may know that no retry can help
  if (may_retry && should_retry(cfg, counted)) {
    end.next = task_disposition::retry;
    end.not_before = now + backoff_delay_ms(cfg, counted, unit_random());
  } else {
    end.next = task_disposition::failed;
  }
  return end;
}

std::optional<std::string> dependency_refusal(const runnable_task& t, int64_t stored_bytes, size_t max_bytes,
                                              size_t max_message_bytes) {
  auto bytes = std::max(static_cast<size_t>(std::max<int64_t>(stored_bytes, 0)), t.spec.deps.size());
  if (bytes > max_bytes)
    return fmt::format("the results of its dependencies come to {} bytes, over fleet.max-dependency-results ({} bytes)",
                       bytes, max_bytes);
  // Beside the task: the other attempts of its message to a node (under max_node_batch_bytes)
  // and the message's framing.
  constexpr size_t rest = max_node_batch_bytes + (size_t{64} << 10);
  auto task_bytes = t.spec.data.size() + t.spec.id.size() + t.spec.type.size() + t.batch_id.size() + rest;
  auto room = max_message_bytes > task_bytes ? max_message_bytes - task_bytes : 0;
  if (bytes > room)
    return fmt::format("the results of its dependencies come to {} bytes, more than fit in one message to a node"
                       " beside the task ({} bytes within fleet.max-message-size)",
                       bytes, room);
  return std::nullopt;
}

attempt_started start_of(const running_attempt& r) {
  return attempt_started{r.seq, r.batch_id, r.task_id, r.attempt, r.worker_id, r.spawned_at,
                         r.node == local_node_name ? std::string{} : r.node};
}

attempt_ended stopped_attempt_end(const running_attempt& r, int64_t now, attempt_outcome outcome, std::string error,
                                  task_disposition next) {
  auto end = end_at(r, now);
  end.outcome = outcome;
  end.error = std::move(error);
  end.next = next;
  return end;
}

attempt_ended lost_with_node_end(const running_attempt& r, int64_t now, int32_t max_interruptions,
                                 std::string reason) {
  return lost_attempt_end(r.seq, r.batch_id, r.task_id, r.attempt, now, now - r.spawned_at, r.orphaned_before + 1,
                          max_interruptions, std::move(reason));
}

running_attempt& attempt_table::add(running_attempt r) {
  if (r.orphaned_before > 0)
    ++suspects_;
  auto seq = r.seq;
  if (auto old = running_.find(seq); old != running_.end())
    unindex(old->second);
  if (r.worker && !r.shared_worker)
    by_worker_.emplace(r.worker->address(), seq);
  auto& added = running_.insert_or_assign(seq, std::move(r)).first->second;
  by_worker_id_.insert_or_assign(std::string_view{added.worker_id}, seq);
  return added;
}

void attempt_table::unindex(const running_attempt& r) {
  if (auto i = by_worker_id_.find(r.worker_id); i != by_worker_id_.end() && i->second == r.seq)
    by_worker_id_.erase(i);
  if (!r.worker || r.shared_worker)
    return;
  auto [first, last] = by_worker_.equal_range(r.worker->address());
  for (auto i = first; i != last; ++i)
    if (i->second == r.seq) {
      by_worker_.erase(i);
      return;
    }
}

running_attempt* attempt_table::find(int64_t seq, int32_t attempt) {
  auto i = running_.find(seq);
  return i != running_.end() && i->second.attempt == attempt ? &i->second : nullptr;
}

std::optional<std::pair<int64_t, int32_t>> attempt_table::find_worker(const caf::actor_addr& who) const {
  auto i = by_worker_.find(who);
  if (i == by_worker_.end())
    return std::nullopt;
  auto r = running_.find(i->second);
  if (r == running_.end())
    return std::nullopt;
  return std::pair{r->first, r->second.attempt};
}

const running_attempt* attempt_table::find_worker_id(std::string_view worker_id) const {
  auto i = by_worker_id_.find(worker_id);
  if (i == by_worker_id_.end())
    return nullptr;
  auto r = running_.find(i->second);
  return r == running_.end() ? nullptr : &r->second;
}

std::vector<std::pair<int64_t, int32_t>> attempt_table::on_shared_worker(const caf::actor_addr& who) const {
  std::vector<std::pair<int64_t, int32_t>> out;
  for (const auto& [seq, r] : running_)
    if (r.worker && r.worker->address() == who)
      out.emplace_back(seq, r.attempt);
  return out;
}

std::optional<running_attempt> attempt_table::take(int64_t seq, int32_t attempt) {
  auto i = running_.find(seq);
  if (i == running_.end() || i->second.attempt != attempt)
    return std::nullopt;
  return extract(i);
}

std::vector<running_attempt> attempt_table::take_if(const std::function<bool(const running_attempt&)>& pred) {
  std::vector<running_attempt> out;
  for (auto i = running_.begin(); i != running_.end();) {
    if (pred(i->second))
      out.push_back(extract(i));
    else
      ++i;
  }
  return out;
}

running_attempt attempt_table::extract(running_map::iterator& i) {
  unindex(i->second); // before the move: by_worker_id_ views its worker_id
  if (i->second.orphaned_before > 0)
    --suspects_;
  auto r = std::move(i->second);
  i = running_.erase(i);
  return r;
}

void attempt_table::start_committed(int64_t seq, int32_t attempt) {
  if (auto r = find(seq, attempt))
    r->start_committed = true;
}

void attempt_table::remember_finished(const running_attempt& r, bool success, int64_t at) {
  recent_.push_front(worker_info{r.worker_id, r.batch_id, r.task_id, r.attempt,
                                 success ? worker_status::completed : worker_status::failed, r.spawned_at, at,
                                 r.node, r.progress, r.note});
  while (recent_.size() > recent_kept_)
    recent_.pop_back();
}

void attempt_table::shift_clock(int64_t by_ms) {
  for (auto& [seq, r] : running_) {
    r.spawned_at += by_ms;
    r.deadline += by_ms;
  }
}

std::vector<std::pair<int64_t, int32_t>> attempt_table::late(int64_t now) const {
  std::vector<std::pair<int64_t, int32_t>> out;
  for (const auto& [seq, r] : running_)
    if (r.deadline <= now)
      out.emplace_back(seq, r.attempt);
  return out;
}

std::vector<worker_info> attempt_table::workers() const {
  std::vector<worker_info> out;
  out.reserve(running_.size() + recent_.size());
  for (const auto& [seq, r] : running_)
    out.push_back(worker_info{r.worker_id, r.batch_id, r.task_id, r.attempt,
                              r.start_committed ? worker_status::active : worker_status::spawning, r.spawned_at,
                              0, r.node, r.progress, r.note});
  std::sort(out.begin(), out.end(),
            [](const worker_info& x, const worker_info& y) { return x.spawned_at < y.spawned_at; });
  out.insert(out.end(), recent_.begin(), recent_.end());
  return out;
}

} // namespace fleet
