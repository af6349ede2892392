// The queue routes of the HTTP API: GET /api/v1/queues (each queue with its limits and what it
// runs) and PATCH /api/v1/queues/{name} (sets some limits, making the queue).

#include "web/api_v1.hpp"
#include "web/api_v1_detail.hpp"

#include "fleet/queue_settings.hpp"

#include <httplib.h>

namespace fleet {

using namespace api_detail;

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
    auto body = accept_body(res, json_object_body(req.body, 32, false, " of queue limits"));
    if (!body)
      return;
    auto change = queue_change_body(*body);
    if (!change) {
      send_error(res, change.error());
      return;
    }
    auto set = client(*who).set_queue(name, *change);
    if (!set) {
      send_error(res, set.error());
      return;
    }
    record(*who, req, 200, {}, {{"action", "set_queue"}, {"queue", name}, {"set", *body}});
    send_json(res, 200, to_json(*set));
  });
}

} // namespace fleet
