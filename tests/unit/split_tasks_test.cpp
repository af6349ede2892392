// The client cuts a big submit into messages: at most so many tasks and bytes each, a task bigger
// than the byte bound alone, order and contents kept.

#include "client/fleet_client_impl.hpp"

#include <doctest/doctest.h>

#include <string>
#include <tuple>

using namespace fleet;
using client_detail::split_tasks;
using client_detail::task_bytes;

namespace {

std::vector<task> numbered(size_t n, size_t data_bytes) {
  std::vector<task> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(task{std::to_string(i), "echo", std::string(data_bytes + i % 7, 'x'), 0});
  return out;
}

} // namespace

TEST_CASE("a submit is cut into runs within the bounds, in order, each task once") {
  for (auto [n, data_bytes, max_tasks, max_bytes] : std::vector<std::tuple<size_t, size_t, size_t, size_t>>{
         {0, 10, 5, 1000},   {1, 10, 5, 1000},      {5, 10, 5, 1000},   {6, 10, 5, 1000},
         {100, 10, 7, 10000}, {100, 100, 1000, 1000}, {50, 3000, 1000, 1000}, {1000, 1, 1, 1 << 20}}) {
    CAPTURE(n);
    CAPTURE(max_tasks);
    CAPTURE(max_bytes);
    auto tasks = numbered(n, data_bytes);
    auto runs = split_tasks(tasks, max_tasks, max_bytes);
    std::vector<task> joined;
    for (size_t i = 0; i < runs.size(); ++i) {
      const auto& run = runs[i];
      REQUIRE_FALSE(run.empty());
      CHECK(run.size() <= max_tasks);
      size_t bytes = 0;
      for (const auto& t : run)
        bytes += task_bytes(t);
      CHECK((bytes <= max_bytes || run.size() == 1)); // a bigger task goes alone
      // Each run is as long as the bounds allow: the next run's first task did not fit.
      if (i + 1 < runs.size())
        CHECK((run.size() == max_tasks || bytes + task_bytes(runs[i + 1].front()) > max_bytes));
      joined.insert(joined.end(), run.begin(), run.end());
    }
    CHECK(joined == tasks);
    CHECK(runs.empty() == tasks.empty());
  }
}
