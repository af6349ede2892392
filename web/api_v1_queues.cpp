// The queue routes of the HTTP API: GET /api/v1/queues (each queue with its limits and what it
// runs) and PATCH /api/v1/queues/{name} (sets some limits, making the queue).

#include "web/api_v1.hpp"
#include "web/api_v1_detail.hpp"

#include "fleet/queue_settings.hpp"

#include <httplib.h>

namespace fleet {

using namespace api_detail;

namespace {

/// The body of a PATCH as a queue change: the fields as `fleetctl queue set` takes them, with
/// JSON types (numbers, "100/1s" or null for the rate, booleans).
caf::expected<queue_change> queue_change_of(const json& body) {
  if (!body.is_object())
    return caf::make_error(errc::invalid_config, "the body must be a JSON object of queue limits");
  queue_change out;
  for (const auto& [key, value] : body.items()) {
    static const std::map<std::string, std::string> names{{"max_workers", "max-workers"},
                                                          {"group_max_workers", "group-max-workers"},
                                                          {"weight", "weight"},
                                                          {"rate", "rate"},
                                                          {"paused", "paused"}};
    auto name = names.find(key);
    if (name == names.end())
      return caf::make_error(errc::invalid_config,
                             fmt::format("unknown field {} (a queue has max_workers, rate, weight, "
                                         "group_max_workers, paused)",
                                         quoted_input(key)));
    std::string text;
    if (value.is_number_integer())
      text = value.dump();
    else if (value.is_boolean())
      text = value.get<bool>() ? "true" : "false";
    else if (value.is_string())
      text = value.get<std::string>();
    else if (value.is_null() && key == "rate")
      text = "none";
    else
      return caf::make_error(errc::invalid_config, fmt::format("{} has the wrong type ({})", key, value.type_name()));
    if (auto err = apply_queue_setting(name->second, text, out))
      return err;
  }
  return out;
}

} // namespace

void api_v1::serve_queues(httplib::Server& server) {
  const auto prefix = api_prefix + "/queues";

  server.Get(prefix, [this](const Request& req, Response& res) {
    if (!authorize(req, res, false))
      return;
    answer(res, client().queues(), [](const auto& xs) {
      auto out = json::array();
      for (const auto& q : xs)
        out.push_back(to_json(q));
      return json{{"queues", out}};
    });
  });

  server.Patch(prefix + "/([^/]+)", [this](const Request& req, Response& res) {
    auto who = authorize(req, res, true);
    if (!who)
      return;
    auto name = req.matches[1].str();
    if (auto problem = queue_name_problem(name); !problem.empty()) {
      send_error(res, 400, "invalid_config", problem);
      return;
    }
    auto body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) {
      send_error(res, 400, "bad_request", "the body must be a JSON object of queue limits");
      return;
    }
    auto change = queue_change_of(body);
    if (!change) {
      send_error(res, change.error());
      return;
    }
    auto set = client(*who).set_queue(name, *change);
    if (!set) {
      send_error(res, set.error());
      return;
    }
    record(*who, req, 200, {}, {{"action", "set_queue"}, {"queue", name}, {"set", body}});
    send_json(res, 200, to_json(*set));
  });
}

} // namespace fleet
