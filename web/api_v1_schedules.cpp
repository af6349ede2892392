// The schedule routes of the HTTP API: /api/v1/schedules (list, add), /api/v1/schedules/{name}
// (get, replace, delete) and its pause, resume and run.

#include "web/api_v1.hpp"
#include "web/api_v1_detail.hpp"

#include "fleet/validation.hpp"

#include <httplib.h>

namespace fleet {

using namespace api_detail;

namespace {

/// A schedule definition body: a JSON object nesting no deeper than a task's data allows (plus
/// the levels of the template around it); none (answered) otherwise.
std::optional<json> schedule_body(const Request& req, Response& res) {
  return accept_body(res, json_object_body(req.body, max_json_nesting + 4, false, ": a schedule"));
}

std::optional<std::string> schedule_name_of(const Request& req, Response& res) {
  auto name = req.matches[1].str();
  if (!is_utf8(name)) {
    send_error(res, 404, "unknown_schedule", fmt::format("schedule {} not found", quoted_input(name)));
    return std::nullopt;
  }
  return name;
}

} // namespace

void api_v1::serve_schedules(httplib::Server& server) {
  const auto prefix = api_prefix + "/schedules";

  server.Get(prefix, [this](const Request& req, Response& res) {
    if (authorize(req, res, false))
      answer(res, client().schedules(), [](const auto& xs) { return json{{"schedules", to_json(xs)}}; });
  });

  server.Get(prefix + "/([^/]+)", [this](const Request& req, Response& res) {
    if (!authorize(req, res, false))
      return;
    auto name = schedule_name_of(req, res);
    if (!name)
      return;
    answer(res, client().schedule(*name), [](const auto& x) { return to_json(x); });
  });

  // POST adds (409 if the name is taken); PUT on the name adds or replaces.
  auto define = [this](const Request& req, Response& res, bool replace) {
    auto who = authorize(req, res, true);
    if (!who)
      return;
    std::string name;
    if (replace) {
      auto from_path = schedule_name_of(req, res);
      if (!from_path)
        return;
      name = *from_path;
    }
    auto body = schedule_body(req, res);
    if (!body)
      return;
    auto spec = schedule_from_json(*body, name);
    if (!spec) {
      send_error(res, spec.error());
      return;
    }
    auto added = client(*who).add_schedule(*spec, replace);
    if (!added) {
      send_error(res, added.error());
      return;
    }
    record(*who, req, replace ? 200 : 201, {},
           {{"action", replace ? "put_schedule" : "add_schedule"}, {"schedule", added->spec.name}});
    send_json(res, replace ? 200 : 201, to_json(*added));
  };
  server.Post(prefix, [define](const Request& req, Response& res) { define(req, res, false); });
  server.Put(prefix + "/([^/]+)", [define](const Request& req, Response& res) { define(req, res, true); });

  server.Delete(prefix + "/([^/]+)", [this](const Request& req, Response& res) {
    auto who = authorize(req, res, true);
    if (!who)
      return;
    auto name = schedule_name_of(req, res);
    if (!name)
      return;
    auto removed = client(*who).remove_schedule(*name);
    if (!removed) {
      send_error(res, removed.error());
      return;
    }
    record(*who, req, 200, {}, {{"action", "remove_schedule"}, {"schedule", *name}});
    send_json(res, 200, {{"schedule", *name}, {"action", "remove"}, {"changed", *removed}});
  });

  server.Post(prefix + "/([^/]+)/(pause|resume|run)", [this](const Request& req, Response& res) {
    auto who = authorize(req, res, true);
    if (!who)
      return;
    auto name = schedule_name_of(req, res);
    if (!name)
      return;
    auto verb = req.matches[2].str();
    auto c = client(*who);
    if (verb == "run") {
      auto id = c.run_schedule(*name);
      if (!id) {
        send_error(res, id.error());
        return;
      }
      record(*who, req, 201, *id, {{"action", "run_schedule"}, {"schedule", *name}});
      send_json(res, 201, {{"schedule", *name}, {"action", "run"}, {"batch_id", *id}});
      return;
    }
    auto changed = verb == "pause" ? c.pause_schedule(*name) : c.resume_schedule(*name);
    if (!changed) {
      send_error(res, changed.error());
      return;
    }
    record(*who, req, 200, {}, {{"action", verb + "_schedule"}, {"schedule", *name}, {"changed", *changed}});
    send_json(res, 200, {{"schedule", *name}, {"action", verb}, {"changed", *changed}});
  });
}

} // namespace fleet
