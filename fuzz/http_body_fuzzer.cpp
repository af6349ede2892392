// libFuzzer target: the request bodies of the HTTP API (src/fleet/api_bodies.hpp) as any client
// may send them. The first byte picks the route, the rest is the body. Whatever a decoder accepts
// must say exactly what the body said and stay within the bounds fleetd enforces.

#include "fleet/api_bodies.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/json_text.hpp"
#include "fleet/task_file.hpp"
#include "fleet/text.hpp"
#include "fleetd/schedule.hpp"

#include <nlohmann/json.hpp>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <variant>

namespace {

using json = nlohmann::json;
using namespace fleet;

void require(bool ok) {
  if (!ok)
    std::abort();
}

template <class T>
const T* accepted(const decoded_body<T>& d) {
  if (auto* p = std::get_if<body_problem>(&d)) {
    // A refusal is a client error with a code and a message, never a server error.
    require(p->status >= 400 && p->status < 500 && !p->code.empty() && !p->message.empty());
    return nullptr;
  }
  return &std::get<T>(d);
}

const json* object(std::string_view text, size_t depth, bool empty_is_object, json& holder) {
  auto d = json_object_body(text, depth, empty_is_object);
  auto* doc = accepted(d);
  if (doc == nullptr)
    return nullptr;
  require(doc->is_object());
  holder = *doc;
  return &holder;
}

void task_ids(std::string_view text) {
  json body;
  if (object(text, 32, true, body) == nullptr)
    return;
  auto d = task_ids_body(body, "cancel");
  auto* ids = accepted(d);
  if (ids == nullptr)
    return;
  auto given = body.find("task_ids");
  require(given == body.end() ? ids->empty() : ids->size() == given->size());
}

void config(std::string_view text) {
  json body;
  if (object(text, 32, true, body) == nullptr)
    return;
  auto d = config_update_body(body);
  auto* update = accepted(d);
  if (update == nullptr)
    return;
  if (update->max_concurrent_workers)
    require(body.at("max_concurrent_workers").get<int64_t>() == *update->max_concurrent_workers);
  if (update->worker_timeout_ms)
    require(body.at("worker_timeout_ms").get<int64_t>() == *update->worker_timeout_ms);
  if (update->retry_failed_tasks)
    require(body.at("retry_failed_tasks").get<bool>() == *update->retry_failed_tasks);
  // What apply() accepts must be valid, as from `fleetctl config set`.
  auto applied = apply(fleet_config{}, *update);
  if (applied)
    require(!validate(*applied));
}

void scale(std::string_view text) {
  json body;
  if (object(text, 32, true, body) == nullptr)
    return;
  auto d = scale_body(body);
  if (auto* n = accepted(d))
    require(*n >= 1 && body.at("workers").get<int64_t>() == *n);
}

void queue(std::string_view text) {
  json body;
  if (object(text, 32, false, body) == nullptr)
    return;
  auto change = queue_change_body(body);
  if (!change)
    return;
  require(change->max_workers >= -1 && change->max_workers <= 100'000);
  require(change->group_max_workers >= -1 && change->group_max_workers <= 100'000);
  require(change->weight == -1 || (change->weight >= 1 && change->weight <= 1000));
  require(change->paused >= -1 && change->paused <= 1);
  require((change->rate_count < 0) == (change->rate_interval_ms < 0));
  require(change->rate_count <= 1'000'000 && change->rate_interval_ms <= 86'400'000);
}

void schedule(std::string_view text) {
  json body;
  if (object(text, max_json_nesting + 4, false, body) == nullptr)
    return;
  auto spec = schedule_from_json(body);
  if (!spec)
    return;
  // What was accepted reads back the same from the definition fleetd shows for it.
  schedule_info info;
  info.spec = *spec;
  auto shown = to_json(info);
  json definition = json::object();
  for (const char* key : {"name", "cron", "tz", "missed", "overlap", "tasks"})
    if (!shown[key].is_null())
      definition[key] = shown[key];
  if (!shown["every_ms"].is_null())
    definition["every"] = shown["every_ms"];
  auto again = schedule_from_json(definition);
  require(static_cast<bool>(again));
  require(again->name == spec->name && again->cron == spec->cron && again->time_zone == spec->time_zone);
  require(again->every_ms == spec->every_ms && again->missed == spec->missed && again->overlap == spec->overlap);
  require(again->tasks == spec->tasks);
}

void submit(std::string_view text) {
  if (!is_utf8(text))
    return; // refused before the envelope is read
  auto d = submit_envelope_body(text, "");
  auto* envelope = accepted(d);
  if (envelope == nullptr)
    return;
  require(envelope->tasks_text.data() >= text.data()
          && envelope->tasks_text.data() + envelope->tasks_text.size() <= text.data() + text.size());
  std::istringstream in{std::string{envelope->tasks_text}};
  task_stream stream{in, "body"};
  while (!stream.done()) {
    auto chunk = stream.next(1000);
    if (!chunk)
      return;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string_view text{reinterpret_cast<const char*>(data) + 1, size - 1};
  switch (data[0] % 6) {
    case 0: task_ids(text); break;
    case 1: config(text); break;
    case 2: scale(text); break;
    case 3: queue(text); break;
    case 4: schedule(text); break;
    default: submit(text); break;
  }
  return 0;
}
