// A daemon of your own: all of fleetd (options, config file, TLS, HTTP, drain on SIGTERM) with a
// task type of yours, run in-process. `checksum` answers the FNV-1a hash of its data's "text";
// a task without a text is refused at submit time.
//
// It also shows the seed's execution hooks (getWorkerInstance / executeTaskOnWorker): instead of
// one worker per attempt, every `checksum` attempt runs on one long-lived worker, which counts
// the attempts it served. Other types keep fleetd's default, a fresh worker per attempt.
//
// Build out of tree against an installed fleetd (see CMakeLists.txt beside this file).
// Run: my-fleetd --fleet.port=4242 --fleet.plaintext-loopback=true, then submit
//   {"type": "checksum", "data": {"text": "hello"}}

#include <fleetd/daemon.hpp>
#include <fleetd/error.hpp>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace {

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 14695981039346656037ull; // FNV-1a, 64 bits
  for (unsigned char c : text)
    h = (h ^ c) * 1099511628211ull;
  return h;
}

struct checksum_state {
  int64_t served = 0;
};

/// A long-lived worker: answers every attempt it gets and stays.
fleet::worker_actor::behavior_type checksum_worker(fleet::worker_actor::stateful_pointer<checksum_state> self) {
  fleet::report_exceptions(self); // an exception fails the attempt with its text
  return {
    [self](fleet::execute_atom, const fleet::task& t, int32_t) -> fleet::task_outcome {
      auto data = nlohmann::json::parse(t.data);
      auto text = data.at("text").get<std::string>();
      return fleet::success(
        nlohmann::json{{"fnv1a", std::to_string(fnv1a(text))}, {"served", ++self->state.served}}.dump());
    },
  };
}

caf::error check_checksum_data(const nlohmann::json& data) {
  if (!data.is_object() || !data.contains("text") || !data["text"].is_string())
    return caf::make_error(fleet::errc::invalid_task, "checksum needs {\"text\": STRING}");
  return caf::none;
}

/// One named, long-lived worker per task type in `shared_types`, spawned on first use (the seed's
/// getWorkerInstance); the rest as fleetd does it. The manager calls the hooks from its own
/// thread, so the map needs no lock.
class shared_workers : public fleet::execution_hooks {
public:
  explicit shared_workers(std::map<std::string, std::function<fleet::worker_actor(caf::actor_system&)>> shared)
    : spawn_(std::move(shared)) {
  }

  caf::expected<fleet::worker_actor> get_worker_instance(caf::actor_system& sys, const fleet::worker_registry& registry,
                                                         const fleet::attempt_info& attempt,
                                                         const fleet::task& t) override {
    auto spawn = spawn_.find(t.type);
    if (spawn == spawn_.end())
      return execution_hooks::get_worker_instance(sys, registry, attempt, t);
    auto& worker = workers_[t.type];
    if (!worker)
      worker = spawn->second(sys);
    return worker;
  }

  void stop_attempt(fleet::fleet_manager_actor::pointer self, const fleet::worker_actor& worker,
                    const std::string& worker_id) override {
    // A shared worker serves other attempts too: the fleet forgets this attempt's answer instead.
    for (const auto& [type, shared] : workers_)
      if (shared == worker)
        return;
    execution_hooks::stop_attempt(self, worker, worker_id);
  }

private:
  std::map<std::string, std::function<fleet::worker_actor(caf::actor_system&)>> spawn_;
  std::map<std::string, fleet::worker_actor> workers_;
};

} // namespace

int main(int argc, char** argv) {
  auto spawn_checksum = [](caf::actor_system& sys) { return sys.spawn(checksum_worker); };
  fleet::daemon_extensions ext;
  ext.add_task_types = [spawn_checksum](fleet::worker_registry& registry) {
    registry.add("checksum", spawn_checksum, check_checksum_data);
  };
  ext.hooks = std::make_shared<shared_workers>(
    std::map<std::string, std::function<fleet::worker_actor(caf::actor_system&)>>{{"checksum", spawn_checksum}});
  return fleet::run_daemon(argc, argv, ext);
}
