// A worker node of your own: it joins fleetd and runs two task types that fleetd itself does
// not have.
// - `wordcount` is a plain function: {"text": STRING} -> {"words": N, "longest": WORD}. It runs on
//   a thread of its own and gives up early when the fleet cancels the attempt.
// - `reverse` is a CAF actor, one per attempt: {"text": STRING} -> {"reversed": STRING}.
// A task without a text fails at once, without retries: the node checks each task's data before
// its attempt runs (fleetd checks only the types it runs itself at submit time).
//
// Build out of tree against an installed fleetd (see CMakeLists.txt beside this file).
// Run: my-node --node.fleetd-port=4242 --node.name=words, then submit
//   {"type": "wordcount", "data": {"text": "to be or not to be"}}

#include <fleetd/error.hpp>
#include <fleetd/node.hpp>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <string>

using json = nlohmann::json;

namespace {

caf::error needs_text(const json& data) {
  if (!data.is_object() || !data.contains("text") || !data["text"].is_string())
    return caf::make_error(fleet::errc::invalid_task, "needs {\"text\": STRING}");
  return caf::none;
}

caf::expected<json> wordcount(const fleet::task_context& ctx, const json& data) {
  std::istringstream words{data.at("text").get<std::string>()};
  int64_t count = 0;
  std::string word, longest;
  while (words >> word) {
    if (++count % 100'000 == 0 && ctx.cancelled())
      return caf::make_error(fleet::errc::worker_failed, "cancelled");
    if (word.size() > longest.size())
      longest = word;
  }
  ctx.info("counted " + std::to_string(count) + " words");
  return json{{"words", count}, {"longest", longest}};
}

fleet::worker_actor::behavior_type reverse_worker(fleet::worker_actor::pointer self) {
  fleet::report_exceptions(self); // an exception fails the attempt with its text
  return {
    [self](fleet::execute_atom, const fleet::task& t, int32_t) -> fleet::task_outcome {
      self->quit(); // one attempt per worker
      auto text = json::parse(t.data).at("text").get<std::string>();
      std::reverse(text.begin(), text.end());
      return fleet::success(json{{"reversed", text}}.dump());
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  fleet::worker_registry registry;
  registry.add_function("wordcount", wordcount, needs_text);
  registry.add("reverse", [](caf::actor_system& sys) { return sys.spawn(reverse_worker); }, needs_text);
  return fleet::run_node(argc, argv, registry);
}
