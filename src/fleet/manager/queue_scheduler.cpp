#include "fleet/manager/queue_scheduler.hpp"

#include <algorithm>
#include <cmath>

namespace fleet {

// -- token_bucket -------------------------------------------------------------

void token_bucket::configure(int32_t count, int64_t interval_ms, int64_t now) {
  auto was_limited = configured_ && count_ > 0;
  if (was_limited)
    refill(now);
  count_ = std::max(count, 0);
  interval_ms_ = count_ > 0 ? std::max<int64_t>(interval_ms, 1) : 0;
  tokens_ = was_limited ? std::min(tokens_, static_cast<double>(count_)) : static_cast<double>(count_);
  refilled_at_ = now;
  configured_ = true;
}

void token_bucket::refill(int64_t now) {
  if (count_ <= 0 || now <= refilled_at_)
    return;
  auto earned = static_cast<double>(now - refilled_at_) * count_ / static_cast<double>(interval_ms_);
  tokens_ = std::min(tokens_ + earned, static_cast<double>(count_));
  refilled_at_ = now;
}

bool token_bucket::available(int64_t now) {
  if (count_ <= 0)
    return true;
  refill(now);
  // A hair below 1 from rounding counts as 1: the start due at that ms must not wait a ms more.
  return tokens_ >= 1.0 - 1e-9;
}

void token_bucket::take(int64_t now) {
  if (count_ <= 0)
    return;
  refill(now);
  tokens_ = std::max(tokens_ - 1.0, 0.0);
}

int64_t token_bucket::next_at(int64_t now) {
  if (available(now))
    return now;
  auto missing = 1.0 - tokens_;
  return now + static_cast<int64_t>(std::ceil(missing * static_cast<double>(interval_ms_) / count_));
}

double token_bucket::tokens(int64_t now) {
  if (count_ <= 0)
    return 0;
  refill(now);
  return tokens_;
}

// -- queue_scheduler ----------------------------------------------------------

queue_scheduler::queue_scheduler() {
  ensure(default_queue);
}

queue_slot& queue_scheduler::ensure(const std::string& name) {
  if (auto i = index_.find(name); i != index_.end())
    return queues_[i->second];
  auto i = queues_.size();
  index_.emplace(name, i);
  auto& q = queues_.emplace_back();
  q.name = name;
  q.pass = virtual_time_;
  in_choice_.push_back(false);
  q.window.on_wake([this, i] { wake(i); });
  wake(i);
  return q;
}

void queue_scheduler::wake(size_t i) {
  if (in_choice_[i])
    return;
  in_choice_[i] = true;
  place(i);
}

void queue_scheduler::place(size_t i) {
  auto pass = queues_[i].pass;
  if (pass <= virtual_time_)
    level_.insert(i);
  else
    ahead_.emplace(pass, i);
}

void queue_scheduler::unplace(size_t i) {
  if (level_.erase(i) == 0)
    ahead_.erase({queues_[i].pass, i});
}

void queue_scheduler::advance(double to) {
  if (to <= virtual_time_)
    return;
  virtual_time_ = to;
  while (!ahead_.empty() && ahead_.begin()->first <= virtual_time_) {
    level_.insert(ahead_.begin()->second);
    ahead_.erase(ahead_.begin());
  }
}

queue_slot* queue_scheduler::find(const std::string& name) {
  auto i = index_.find(name);
  return i == index_.end() ? nullptr : &queues_[i->second];
}

void queue_scheduler::configure(queue_slot& q, const queue_limits& limits, int64_t now) {
  auto group_cap_changed = limits.group_max_workers != q.limits.group_max_workers;
  q.limits = limits;
  q.limits.weight = std::max(q.limits.weight, 1);
  q.bucket.configure(limits.rate_count, limits.rate_interval_ms, now);
  auto i = index_of(q);
  auto rated = std::find(rated_.begin(), rated_.end(), i);
  if (q.bucket.limited() && rated == rated_.end())
    rated_.push_back(i);
  else if (!q.bucket.limited() && rated != rated_.end())
    rated_.erase(rated);
  // The window was read under the old cap.
  if (group_cap_changed)
    reset_window(q);
  if (!asleep(q))
    wake(i); // resumed
}

const queue_slot* queue_scheduler::find(const std::string& name) const {
  auto i = index_.find(name);
  return i == index_.end() ? nullptr : &queues_[i->second];
}

size_t queue_scheduler::index_of(const queue_slot& q) const {
  return index_.at(q.name);
}

bool queue_scheduler::may_start(queue_slot& q, int64_t now) {
  if (q.limits.max_workers > 0 && q.running >= q.limits.max_workers)
    return false;
  return q.bucket.available(now);
}

namespace {

size_t index_in(size_t i) { return i; }
size_t index_in(const std::pair<double, size_t>& entry) { return entry.second; }

} // namespace

template <class Order>
queue_slot* queue_scheduler::first_ready(Order& order, int64_t now, const std::vector<bool>& tried) {
  for (auto it = order.begin(); it != order.end();) {
    auto i = index_in(*it);
    auto& q = queues_[i];
    if (asleep(q)) {
      in_choice_[i] = false;
      it = order.erase(it);
      continue;
    }
    if ((i >= tried.size() || !tried[i]) && may_start(q, now))
      return &q;
    ++it;
  }
  return nullptr;
}

queue_slot* queue_scheduler::pick(int64_t now, const std::vector<bool>& tried) {
  // Every queue at or below the last choice's pass counts as at it (no credit saved while idle),
  // so the lowest index among them wins; only then the lowest pass above it.
  if (auto* q = first_ready(level_, now, tried))
    return q;
  return first_ready(ahead_, now, tried);
}

void queue_scheduler::on_start(queue_slot& q, const std::string& group, int64_t now) {
  ++q.running;
  if (!group.empty())
    ++q.running_groups[group];
  ++q.started;
  q.bucket.take(now);
  auto i = index_of(q);
  auto chosen = in_choice_[i];
  if (chosen)
    unplace(i);
  advance(q.pass);
  q.pass = std::max(q.pass, virtual_time_) + 1.0 / q.limits.weight;
  if (chosen)
    place(i);
}

void queue_scheduler::on_held(queue_slot& q, const std::string& group) {
  ++q.running;
  if (!group.empty())
    ++q.running_groups[group];
}

bool queue_scheduler::on_end(const std::string& name, const std::string& group) {
  auto* q = find(name);
  if (q == nullptr)
    return false;
  q->running = std::max(q->running - 1, 0);
  if (group.empty())
    return false;
  if (auto i = q->running_groups.find(group); i != q->running_groups.end() && --i->second <= 0)
    q->running_groups.erase(i);
  unclaim(*q, group);
  return q->dropped.count(group) != 0;
}

bool queue_scheduler::at_cap(const queue_slot& q, const std::string& group, int32_t more) {
  if (group.empty() || q.limits.group_max_workers <= 0)
    return false;
  auto i = q.claimed.find(group);
  return (i == q.claimed.end() ? 0 : i->second) + more >= q.limits.group_max_workers;
}

bool queue_scheduler::claim(queue_slot& q, const std::string& group, const run_position& at) {
  if (group.empty())
    return true;
  if (at_cap(q, group)) {
    q.dropped.try_emplace(group, at);
    return false;
  }
  ++q.claimed[group];
  return true;
}

void queue_scheduler::unclaim(queue_slot& q, const std::string& group) {
  auto i = q.claimed.find(group);
  if (i == q.claimed.end())
    return;
  if (--i->second <= 0)
    q.claimed.erase(i);
}

void queue_scheduler::reset_window(queue_slot& q) {
  for (const auto& t : q.window.rows())
    unclaim(q, t.spec.group);
  q.window.invalidate();
  q.dropped.clear();
}

void queue_scheduler::invalidate_all() {
  for (auto& q : queues_)
    reset_window(q);
}

std::optional<int64_t> queue_scheduler::next_token_at(int64_t now) {
  std::optional<int64_t> out;
  for (auto i : rated_) {
    auto& q = queues_[i];
    if (q.limits.paused || !q.bucket.limited() || (q.window.empty() && q.window.exhausted()))
      continue;
    if (q.limits.max_workers > 0 && q.running >= q.limits.max_workers)
      continue;
    auto at = q.bucket.next_at(now);
    if (at > now && (!out || at < *out))
      out = at;
  }
  return out;
}

} // namespace fleet
