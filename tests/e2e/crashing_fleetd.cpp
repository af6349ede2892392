// fleetd with one more task type, `crash`, whose worker kills the whole process: the poison task
// of the e2e tests. {"after_ms": N} waits N ms first (by then the attempt's start is committed);
// without it the process dies at once, before group commit can record that the attempt began.

#include "fleetd/interfaces.hpp"
#include "fleetd/daemon.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <thread>

namespace {

fleet::worker_actor::behavior_type crash_worker(fleet::worker_actor::pointer) {
  return {
    [](fleet::execute_atom, const fleet::task& t, int32_t) -> fleet::task_outcome {
      auto data = nlohmann::json::parse(t.data, nullptr, false);
      auto after_ms = data.is_object() ? data.value("after_ms", 0) : 0;
      std::thread{[after_ms] {
        std::this_thread::sleep_for(std::chrono::milliseconds(after_ms));
        std::raise(SIGKILL);
      }}.detach();
      std::this_thread::sleep_for(std::chrono::hours(1)); // no outcome ever leaves
      return fleet::failure("unreachable");
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  fleet::daemon_extensions ext;
  ext.add_task_types = [](fleet::worker_registry& registry) {
    registry.add("crash", [](caf::actor_system& sys) { return sys.spawn(crash_worker); });
  };
  return fleet::run_daemon(argc, argv, ext);
}
