#include "fleet/dependency_graph.hpp"

#include "fleetd/error.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace fleet {

std::vector<uint32_t> find_dependency_cycle(size_t n, const std::vector<dependency_edge>& edges) {
  // Kahn's algorithm: take away tasks that wait on nothing; what is left lies on or behind a cycle.
  std::vector<uint32_t> waiting(n, 0);
  std::vector<uint32_t> first_dependent(n + 1, 0); // CSR: dependents of i at [first[i], first[i+1])
  for (const auto& e : edges) {
    ++waiting[e.task];
    ++first_dependent[e.after + 1];
  }
  for (size_t i = 0; i < n; ++i)
    first_dependent[i + 1] += first_dependent[i];
  std::vector<uint32_t> dependents(edges.size());
  {
    auto fill = first_dependent;
    for (const auto& e : edges)
      dependents[fill[e.after]++] = e.task;
  }
  std::vector<uint32_t> ready;
  for (size_t i = 0; i < n; ++i)
    if (waiting[i] == 0)
      ready.push_back(static_cast<uint32_t>(i));
  size_t done = 0;
  while (!ready.empty()) {
    auto i = ready.back();
    ready.pop_back();
    ++done;
    for (auto k = first_dependent[i]; k < first_dependent[i + 1]; ++k)
      if (--waiting[dependents[k]] == 0)
        ready.push_back(dependents[k]);
  }
  if (done == n)
    return {};
  // Every task left waits on another task left: walk "runs after" edges among them until one
  // repeats. The edges by task, for that walk.
  std::vector<uint32_t> after_of(n, UINT32_MAX);
  for (const auto& e : edges)
    if (waiting[e.task] > 0 && waiting[e.after] > 0)
      after_of[e.task] = e.after;
  uint32_t start = 0;
  while (waiting[start] == 0)
    ++start;
  std::vector<size_t> seen_at(n, SIZE_MAX);
  std::vector<uint32_t> path;
  auto at = start;
  while (seen_at[at] == SIZE_MAX) {
    seen_at[at] = path.size();
    path.push_back(at);
    at = after_of[at];
  }
  std::vector<uint32_t> cycle(path.begin() + static_cast<ptrdiff_t>(seen_at[at]), path.end());
  cycle.push_back(at);
  return cycle;
}

std::string describe_cycle(const std::vector<std::string>& ids) {
  // `ids` walks the cycle and ends where it began: each neighbouring pair is one "runs after".
  constexpr size_t shown = 8;
  auto pairs = ids.size() - 1;
  auto pair = [&](size_t i) { return fmt::format("{} runs after {}", quoted_input(ids[i]), quoted_input(ids[i + 1])); };
  std::string out;
  for (size_t i = 0; i < pairs; ++i) {
    if (i == shown && pairs > shown + 2) {
      out += fmt::format(", ... ({} more)", pairs - shown - 1);
      i = pairs - 1;
    }
    if (!out.empty())
      out += ", ";
    out += pair(i);
  }
  return out;
}

namespace {

caf::error task_problem(size_t index, const task& t, std::string_view what) {
  return caf::make_error(errc::invalid_task, fmt::format("task {} (id {}): {}", index, quoted_input(t.id), what));
}

} // namespace

caf::error validate_dependencies(const std::vector<task>& tasks, bool whole_batch) {
  auto with_after = std::any_of(tasks.begin(), tasks.end(), [](const task& t) { return !t.after.empty(); });
  if (!with_after)
    return caf::none;
  std::unordered_map<std::string_view, uint32_t> position;
  if (whole_batch) {
    position.reserve(tasks.size());
    for (size_t i = 0; i < tasks.size(); ++i)
      position.emplace(tasks[i].id, static_cast<uint32_t>(i));
  }
  std::vector<dependency_edge> edges;
  std::unordered_set<std::string_view> named;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i];
    if (t.after.empty())
      continue;
    if (t.after.size() > max_dependencies_per_task)
      return task_problem(i, t, fmt::format("\"after\" names {} tasks, more than the limit of {}", t.after.size(),
                                            max_dependencies_per_task));
    if (t.run_at != 0 || t.delay_ms != 0)
      return task_problem(i, t, "a task with \"after\" starts when its dependencies succeeded: it cannot "
                                "have run_at or delay_ms too");
    named.clear();
    for (const auto& id : t.after) {
      if (id == t.id)
        return task_problem(i, t, "\"after\" names the task itself");
      if (!named.insert(id).second)
        return task_problem(i, t, fmt::format("\"after\" names {} twice", quoted_input(id)));
      if (!whole_batch)
        continue;
      auto found = position.find(id);
      if (found == position.end())
        return task_problem(i, t, fmt::format("\"after\" names {}, which is not a task of this batch",
                                              quoted_input(id)));
      edges.push_back({static_cast<uint32_t>(i), found->second});
    }
    if (edges.size() > max_dependencies_per_batch)
      return caf::make_error(errc::invalid_batch,
                             fmt::format("the batch's tasks name more than {} dependencies in all: the "
                                         "graph is too big for one batch",
                                         max_dependencies_per_batch));
  }
  if (!whole_batch)
    return caf::none;
  auto cycle = find_dependency_cycle(tasks.size(), edges);
  if (cycle.empty())
    return caf::none;
  std::vector<std::string> ids;
  for (auto i : cycle)
    ids.push_back(tasks[i].id);
  return caf::make_error(errc::invalid_batch,
                         fmt::format("the dependencies form a cycle, so none of its tasks could ever start: {}",
                                     describe_cycle(ids)));
}

caf::error check_batch_edges(int64_t edges) {
  if (static_cast<size_t>(edges) <= max_dependencies_per_batch)
    return caf::none;
  return caf::make_error(errc::invalid_batch,
                         fmt::format("the batch's tasks name {} dependencies in all, more than {}: the graph is "
                                     "too big for one batch",
                                     edges, max_dependencies_per_batch));
}

caf::error dependency_cycle_error(const std::vector<std::string>& ids) {
  return caf::make_error(errc::invalid_batch,
                         fmt::format("the dependencies form a cycle, so none of its tasks could ever start: {}",
                                     describe_cycle(ids)));
}

} // namespace fleet
