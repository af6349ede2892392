#include "fleet/manager/ready_window.hpp"

#include <algorithm>

namespace fleet {

namespace {

/// About what a task of the window holds in memory.
size_t row_size(const runnable_task& t) {
  return t.spec.data.size() + t.spec.deps.size() + t.spec.id.size() + t.spec.type.size() + t.spec.group.size()
         + t.batch_id.size() + 128;
}

bool runs_before(int32_t priority_a, int64_t seq_a, int32_t priority_b, int64_t seq_b) {
  return priority_a != priority_b ? priority_a > priority_b : seq_a < seq_b;
}

bool runs_before(const runnable_task& a, const runnable_task& b) {
  return runs_before(a.spec.priority, a.seq, b.spec.priority, b.seq);
}

} // namespace

class ready_window::wake_check {
public:
  explicit wake_check(ready_window& w) : w_(w), was_idle_(w.idle()) {}
  wake_check(const wake_check&) = delete;
  wake_check& operator=(const wake_check&) = delete;
  ~wake_check() {
    if (was_idle_ && !w_.idle() && w_.on_wake_)
      w_.on_wake_();
  }

private:
  ready_window& w_;
  bool was_idle_;
};

void ready_window::invalidate() {
  wake_check check{*this};
  ready_.clear();
  exhausted_ = false;
  read_up_to_.reset();
}

void ready_window::known_empty() {
  ready_.clear();
  read_up_to_.reset();
  exhausted_ = true;
}

caf::error ready_window::fill(size_t size, size_t uncommitted, const read_fn& read, const skip_fn& skip,
                              size_t budget_bytes) {
  wake_check check{*this};
  while (ready_.empty() && !exhausted_) {
    // Tasks with uncommitted changes still read as pending in the database: they are skipped
    // rather than committed first, so that a read does not cut the group commit short. A read from
    // the top meets them first, and asks for as many more as the budget holds; the reads after it
    // go on past every task it handed out. Each read is sized by what the reads before it found.
    auto limit = read_size(size, budget_bytes);
    if (!read_up_to_ && uncommitted > 0)
      limit += std::min(uncommitted, read_size(uncommitted, budget_bytes));
    if (auto err = read_more(limit, read, skip))
      return err;
  }
  return caf::none;
}

caf::error ready_window::top_up(size_t size, const read_fn& read, const skip_fn& skip, size_t budget_bytes) {
  if (exhausted_ || !read_up_to_ || ready_.size() >= size)
    return caf::none;
  // A fill reads one budget's worth into an empty window; topped up, a window holds no more.
  auto held = static_cast<size_t>(static_cast<double>(ready_.size()) * row_bytes_);
  if (held >= budget_bytes)
    return caf::none;
  auto room = read_size(size, budget_bytes - held);
  wake_check check{*this};
  return read_more(std::min(room, size - ready_.size()), read, skip);
}

caf::error ready_window::read_more(size_t limit, const read_fn& read, const skip_fn& skip) {
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
  wake_check check{*this};
  auto at = std::upper_bound(ready_.begin(), ready_.end(), t,
                             [](const runnable_task& a, const runnable_task& b) { return runs_before(a, b); });
  ready_.insert(at, std::move(t));
}

bool ready_window::add_fresh(std::vector<runnable_task>& fresh, const skip_fn& skip, const skip_fn& stops,
                             size_t max_rows) {
  wake_check check{*this};
  if (fresh.empty() || (!read_up_to_ && !exhausted_))
    return true; // the next read starts from the top and meets them all
  std::deque<runnable_task> taken;
  if (!exhausted_) {
    // The reads meet the tasks after where they stopped; those before it enter now, or never.
    auto unread = [&](const runnable_task& t) { return t.spec.priority > read_up_to_->priority; };
    if (ready_.size() + static_cast<size_t>(std::count_if(fresh.begin(), fresh.end(), unread)) > max_rows)
      return false;
    for (auto& t : fresh)
      if (unread(t) && !skip(t))
        taken.push_back(std::move(t));
  } else {
    // The reads found the end: the fresh tasks enter in run order until one of them stops the
    // entry (`stops`, or the room runs out), and the reads go on from the last one that entered.
    size_t n = 0;
    auto room = max_rows > ready_.size() ? max_rows - ready_.size() : 0;
    while (n < fresh.size() && n < room && !stops(fresh[n]))
      ++n;
    if (n < fresh.size()) {
      // The reads go on from where they stopped (which no task of the window comes after), or
      // from the last task that entered: only if the fresh tasks all come after it, else a read
      // would meet one of the window's tasks again. Before any read, from the top.
      const auto& first = fresh.front();
      if (read_up_to_ ? !runs_before(read_up_to_->priority, read_up_to_->seq, first.spec.priority, first.seq) : n == 0)
        return false;
      exhausted_ = false;
    }
    for (size_t i = 0; i < n; ++i)
      if (!skip(fresh[i]))
        taken.push_back(std::move(fresh[i]));
    // The reads (and the group reads of tasks left out at a cap) go on from the last task that
    // entered, or cover the fresh ones if all did.
    if (n > 0) {
      const auto& last = fresh[n - 1];
      if (!read_up_to_ || runs_before(read_up_to_->priority, read_up_to_->seq, last.spec.priority, last.seq))
        read_up_to_ = run_position{last.spec.priority, last.seq};
    }
  }
  if (ready_.empty() || taken.empty() || !runs_before(taken.front(), ready_.back())) {
    for (auto& t : taken)
      ready_.push_back(std::move(t));
    return true;
  }
  std::deque<runnable_task> merged;
  std::merge(std::make_move_iterator(ready_.begin()), std::make_move_iterator(ready_.end()),
             std::make_move_iterator(taken.begin()), std::make_move_iterator(taken.end()), std::back_inserter(merged),
             [](const runnable_task& a, const runnable_task& b) { return runs_before(a, b); });
  ready_ = std::move(merged);
  return true;
}

bool ready_window::contains(int64_t seq) const {
  return std::any_of(ready_.begin(), ready_.end(), [seq](const runnable_task& t) { return t.seq == seq; });
}

} // namespace fleet
