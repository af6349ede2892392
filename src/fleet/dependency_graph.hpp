#pragma once

#include "fleetd/task.hpp"

#include <caf/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fleet {

/// The most tasks one task may run after; a bigger fan-in is a tree of tasks.
inline constexpr size_t max_dependencies_per_task = 1'000;

/// The most dependency edges one batch may hold (a million-task chain has a million).
inline constexpr size_t max_dependencies_per_batch = 10'000'000;

/// One edge of a batch's graph by position in the batch: task `task` runs after task `after`.
struct dependency_edge {
  uint32_t task = 0;
  uint32_t after = 0;
};

/// A cycle among `n` tasks if their edges hold one: positions p0, p1, ..., p0 where each runs
/// after the next; empty if the graph is acyclic. Time and memory linear in n + edges.
std::vector<uint32_t> find_dependency_cycle(size_t n, const std::vector<dependency_edge>& edges);

/// "\"a\" runs after \"b\", which runs after \"a\"" for a cycle of ids (long cycles shortened).
std::string describe_cycle(const std::vector<std::string>& ids);

/// The refusal of a stored batch whose tasks name `edges` dependencies in all, more than
/// max_dependencies_per_batch; none if they fit.
caf::error check_batch_edges(int64_t edges);

/// The refusal of a batch whose dependencies form the cycle of `ids` (describe_cycle).
caf::error dependency_cycle_error(const std::vector<std::string>& ids);

/// The checks on a batch's `after` lists before anything is stored: each names a task of the
/// batch other than itself, at most once, at most max_dependencies_per_task of them, not
/// together with run_at or delay_ms (a task with dependencies starts when they succeeded), the
/// batch's edges at most max_dependencies_per_batch, and no cycle (the error names one).
/// errc::invalid_task naming the task, or errc::invalid_batch for a cycle; none for a batch
/// without dependencies, whose check costs nothing. For one chunk of an upload (`whole_batch`
/// false) only what a task alone shows is checked; the seal checks the rest (fleet_store).
caf::error validate_dependencies(const std::vector<task>& tasks, bool whole_batch = true);

} // namespace fleet
