#include "fleet/manager/ready_window.hpp"

#include <algorithm>

namespace fleet {

namespace {

/// About what a task of the window holds in memory.
size_t row_size(const runnable_task& t) {
  return t.spec.data.size() + t.spec.id.size() + t.spec.type.size() + t.spec.group.size() + t.batch_id.size() + 128;
}

} // namespace

void ready_window::invalidate() {
  ready_.clear();
  exhausted_ = false;
  read_up_to_.reset();
}

caf::error ready_window::fill(size_t size, size_t uncommitted, const read_fn& read, const skip_fn& skip,
                              size_t budget_bytes) {
  while (ready_.empty() && !exhausted_) {
    // Tasks with uncommitted changes still read as pending in the database: they are skipped
    // rather than committed first, so that a read does not cut the group commit short. A read from
    // the top meets them first, and asks for as many more as the budget holds; the reads after it
    // go on past every task it handed out. Each read is sized by what the reads before it found.
    auto limit = read_size(size, budget_bytes);
    if (!read_up_to_ && uncommitted > 0)
      limit += std::min(uncommitted, read_size(uncommitted, budget_bytes));
    auto rows = read(limit, read_up_to_);
    if (!rows)
      return std::move(rows.error());
    exhausted_ = rows->size() < limit;
    if (!rows->empty()) {
      double bytes = 0;
      for (const auto& row : *rows)
        bytes += static_cast<double>(row_size(row));
      auto mean = bytes / static_cast<double>(rows->size());
      // Follows the tasks as they come: a read of big ones shrinks the next read at once.
      row_bytes_ = row_bytes_ == 0 ? mean : std::max(mean, (row_bytes_ + mean) / 2);
      read_up_to_ = run_position{rows->back().spec.priority, rows->back().seq};
    }
    for (auto& row : *rows)
      if (!skip(row))
        ready_.push_back(std::move(row));
  }
  return caf::none;
}

size_t ready_window::read_size(size_t max_rows, size_t budget_bytes, size_t first_rows) const {
  if (row_bytes_ == 0)
    return std::max<size_t>(1, std::min(max_rows, first_rows));
  auto fit = static_cast<size_t>(static_cast<double>(budget_bytes) / row_bytes_);
  return std::clamp<size_t>(fit, 1, std::max<size_t>(1, max_rows));
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
