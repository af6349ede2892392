#include "fleet/manager/group_commit.hpp"

#include <cstddef>
#include <iterator>
#include <type_traits>
#include <utility>

namespace fleet {

namespace {

int64_t seq_of(const transition& change) {
  return std::visit([](const auto& x) { return x.seq; }, change);
}

size_t text_bytes(const transition& change) {
  return std::visit(
    [](const auto& x) {
      size_t n = x.batch_id.size() + x.task_id.size();
      if constexpr (std::is_same_v<std::decay_t<decltype(x)>, attempt_ended>)
        n += x.result.size() + x.error.size();
      else
        n += x.worker_id.size() + x.node.size();
      return n;
    },
    change);
}

size_t text_bytes(const std::vector<transition>& changes) {
  size_t n = 0;
  for (const auto& change : changes)
    n += text_bytes(change);
  return n;
}

/// Inserts `from` at `at` (the end of what earlier failed groups put back) and moves `at` past it.
template <class T>
void put_back(std::vector<T>& to, size_t& at, std::vector<T>& from) {
  to.insert(to.begin() + static_cast<std::ptrdiff_t>(at), std::make_move_iterator(from.begin()),
            std::make_move_iterator(from.end()));
  at += from.size();
}

} // namespace

void group_commit::queue(transition change) {
  ++uncommitted_[seq_of(change)];
  waiting_bytes_ += text_bytes(change);
  changes_.push_back(std::move(change));
}

std::optional<group_commit::group> group_commit::take() {
  if (!has_work())
    return std::nullopt;
  group g;
  g.changes = std::exchange(changes_, {});
  waiting_bytes_ = 0;
  g.actions = std::exchange(actions_, {});
  g.results = std::exchange(results_, {});
  g.promote_retries = std::exchange(promote_, false);
  failed_changes_ = failed_actions_ = failed_results_ = 0;
  ++in_flight_;
  return g;
}

void group_commit::committed(const group& g) {
  --in_flight_;
  for (const auto& change : g.changes)
    if (auto i = uncommitted_.find(seq_of(change)); i != uncommitted_.end() && --i->second <= 0)
      uncommitted_.erase(i);
}

void group_commit::failed(group g) {
  --in_flight_;
  promote_ = promote_ || g.promote_retries;
  waiting_bytes_ += text_bytes(g.changes);
  put_back(changes_, failed_changes_, g.changes);
  put_back(actions_, failed_actions_, g.actions);
  put_back(results_, failed_results_, g.results);
}

} // namespace fleet
