// fleet-node: a worker node of a fleet with the built-in task types, the first user of the node
// SDK (fleetd/node.hpp). Usage: fleet-node [--config-file=config/fleet-node.ini] [--node.NAME=VALUE]...

#include "actors/builtin_workers.hpp"
#include "fleetd/error.hpp"
#include "programs/node_main.hpp"

#include <algorithm>

int main(int argc, char** argv) {
  return fleet::run_node_with(argc, argv, [](const fleet::node_options& o) -> caf::expected<fleet::worker_registry> {
    auto names = [&](const char* type) { return std::find(o.types.begin(), o.types.end(), type) != o.types.end(); };
    if (names("exec") && o.exec_allow.empty())
      return caf::make_error(fleet::errc::invalid_config,
                             "node.types includes exec, but node.exec-allow names no program it may run");
    fleet::worker_registry registry;
    fleet::add_builtin_workers(registry, o.exec_allow, o.exec_env_allow, o.exec_sandbox);
    // Without programs to run, exec would only refuse: offer it only when some are allowed.
    if (o.exec_allow.empty())
      (void) registry.keep_only({"echo", "sleep", "fail"});
    return registry;
  }, fleet::node_threads::one);
}
