#pragma once

#include "fleetd/node.hpp"
#include "fleet/node_config.hpp"

#include <caf/expected.hpp>

#include <functional>

namespace fleet {

/// Builds the node's registry once its options are known (fleet-node's `exec` needs exec-allow).
using registry_maker = std::function<caf::expected<worker_registry>(const node_options&)>;

/// run_node, for a registry that depends on the options, on `threads` scheduler threads unless the
/// options say otherwise.
int run_node_with(int argc, char** argv, const registry_maker& make_registry,
                  node_threads threads = node_threads::per_core);

} // namespace fleet
