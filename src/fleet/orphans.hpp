#pragma once

#include "fleet/child_journal.hpp"
#include "fleetd/node_info.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace fleet {

/// Stops the process groups of the children in `left` that still run: each is the same process
/// (pid and start time) or members of its process group started after it, never a process that
/// reused a pid. All get SIGTERM at once, then SIGKILL for the groups still running after `grace`.
/// Blocks until they are gone (at most `grace` and a second more).
std::vector<stopped_orphan> stop_orphans(const std::vector<child_journal::entry>& left,
                                         std::chrono::milliseconds grace);

/// At the start of fleetd or a fleet-node, before anything runs: stops what earlier runs left
/// running (stop_orphans, each stop logged), forgets their notes, and installs `journal` for the
/// children of this run. The stops, for the record.
std::vector<stopped_orphan> take_over_children(child_journal& journal, std::chrono::milliseconds grace);

/// The live (not zombie) processes of process group `pgrp` started at or after `since_ticks`.
std::vector<pid_t> group_members(pid_t pgrp, uint64_t since_ticks);

} // namespace fleet
