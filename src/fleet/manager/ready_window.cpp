#include "fleet/manager/ready_window.hpp"

#include <algorithm>

namespace fleet {

void ready_window::invalidate() {
  ready_.clear();
  exhausted_ = false;
  read_up_to_.reset();
}

caf::error ready_window::fill(size_t size, size_t uncommitted, const read_fn& read, const skip_fn& skip) {
  while (ready_.empty() && !exhausted_) {
    // Tasks with uncommitted changes still read as pending in the database: they are skipped
    // rather than committed first, so that a read does not cut the group commit short. A read from
    // the top meets all of them; the reads after it go on past every task it handed out, so they
    // stay `size` however many changes wait for their commit.
    auto limit = read_up_to_ ? size : size + uncommitted;
    auto rows = read(limit, read_up_to_);
    if (!rows)
      return std::move(rows.error());
    exhausted_ = rows->size() < limit;
    if (!rows->empty())
      read_up_to_ = run_position{rows->back().spec.priority, rows->back().seq};
    for (auto& row : *rows)
      if (!skip(row))
        ready_.push_back(std::move(row));
  }
  return caf::none;
}

std::optional<runnable_task> ready_window::take_first(const std::function<bool(const runnable_task&)>& fits) {
  for (auto i = ready_.begin(); i != ready_.end(); ++i) {
    if (fits(*i)) {
      auto out = std::move(*i);
      ready_.erase(i);
      return out;
    }
  }
  return std::nullopt;
}

void ready_window::insert(runnable_task t) {
  auto before = [](const runnable_task& a, const runnable_task& b) {
    return a.spec.priority != b.spec.priority ? a.spec.priority > b.spec.priority : a.seq < b.seq;
  };
  auto at = std::upper_bound(ready_.begin(), ready_.end(), t, before);
  ready_.insert(at, std::move(t));
}

bool ready_window::contains(int64_t seq) const {
  return std::any_of(ready_.begin(), ready_.end(), [seq](const runnable_task& t) { return t.seq == seq; });
}

} // namespace fleet
