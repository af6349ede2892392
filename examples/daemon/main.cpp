// A daemon of your own: all of fleetd (options, config file, TLS, HTTP, drain on SIGTERM) with a
// task type of yours, run in-process. `checksum` answers the FNV-1a hash of its data's "text";
// a task without a text is refused at submit time.
//
// Build out of tree against an installed fleetd (see CMakeLists.txt beside this file).
// Run: my-fleetd --fleet.port=4242 --fleet.plaintext-loopback=true, then submit
//   {"type": "checksum", "data": {"text": "hello"}}

#include <fleetd/daemon.hpp>
#include <fleetd/error.hpp>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace {

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 14695981039346656037ull; // FNV-1a, 64 bits
  for (unsigned char c : text)
    h = (h ^ c) * 1099511628211ull;
  return h;
}

/// One worker per attempt, as fleetd's own: it answers and quits.
fleet::worker_actor::behavior_type checksum_worker(fleet::worker_actor::pointer self) {
  fleet::report_exceptions(self); // an exception fails the attempt with its text
  return {
    [self](fleet::execute_atom, const fleet::task& t, int32_t) -> fleet::task_outcome {
      self->quit();
      auto data = nlohmann::json::parse(t.data);
      auto text = data.at("text").get<std::string>();
      return fleet::success(nlohmann::json{{"fnv1a", std::to_string(fnv1a(text))}}.dump());
    },
  };
}

caf::error check_checksum_data(const nlohmann::json& data) {
  if (!data.is_object() || !data.contains("text") || !data["text"].is_string())
    return caf::make_error(fleet::errc::invalid_task, "checksum needs {\"text\": STRING}");
  return caf::none;
}

} // namespace

int main(int argc, char** argv) {
  fleet::daemon_extensions ext;
  ext.add_task_types = [](fleet::worker_registry& registry) {
    registry.add("checksum", [](caf::actor_system& sys) { return sys.spawn(checksum_worker); },
                 check_checksum_data);
  };
  return fleet::run_daemon(argc, argv, ext);
}
