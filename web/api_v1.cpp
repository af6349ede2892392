#include "web/api_v1.hpp"
#include "web/api_v1_detail.hpp"

#include "fleetd/client.hpp"
#include "fleetd/error.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/json_text.hpp"
#include "fleet/parse_number.hpp"
#include "fleet/text.hpp"
#include "web/assets.hpp"

#include <caf/scoped_actor.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <optional>

namespace fleet {

using namespace api_detail;
using json = nlohmann::json;
using httplib::Request;
using httplib::Response;



size_t request_content_length(const Request& req) {
  auto n = parse_integer(req.get_header_value("Content-Length"));
  return n && *n > 0 ? static_cast<size_t>(*n) : 0;
}

const std::vector<api_route>& api_v1_routes() {
  static const std::vector<api_route> routes{
    {"get", "/api/v1/openapi.json"},
    {"post", "/api/v1/batches"},
    {"get", "/api/v1/batches/{id}"},
    {"get", "/api/v1/batches/{id}/results"},
    {"get", "/api/v1/batches/{id}/tasks"},
    {"get", "/api/v1/batches/{id}/events"},
    {"post", "/api/v1/batches/{id}/cancel"},
    {"post", "/api/v1/batches/{id}/pause"},
    {"post", "/api/v1/batches/{id}/resume"},
    {"post", "/api/v1/batches/{id}/replay"},
    {"get", "/api/v1/dead-letters"},
    {"get", "/api/v1/stats"},
    {"get", "/api/v1/workers"},
    {"get", "/api/v1/nodes"},
    {"get", "/api/v1/config"},
    {"patch", "/api/v1/config"},
    {"post", "/api/v1/scale"},
    {"get", "/api/v1/schedules"},
    {"post", "/api/v1/schedules"},
    {"get", "/api/v1/schedules/{name}"},
    {"put", "/api/v1/schedules/{name}"},
    {"delete", "/api/v1/schedules/{name}"},
    {"post", "/api/v1/schedules/{name}/pause"},
    {"post", "/api/v1/schedules/{name}/resume"},
    {"post", "/api/v1/schedules/{name}/run"},
    {"get", "/api/v1/queues"},
    {"patch", "/api/v1/queues/{name}"},
  };
  return routes;
}

api_v1::api_v1(caf::actor_system& sys, fleet_manager_actor manager, api_settings settings,
               std::function<void(const std::string&)> warn)
  : sys_(sys), manager_(std::move(manager)), settings_(settings), warn_(std::move(warn)) {
}

size_t api_v1::max_body(const std::string& method, const std::string& path, const std::string& content_type) const {
  if (method == "POST" && path == api_prefix + "/batches")
    return is_json_lines(content_type) ? SIZE_MAX : settings_.max_body_bytes;
  // A schedule carries a template: as big as a submit's body may be.
  if ((method == "POST" || method == "PUT") && path.rfind(api_prefix + "/schedules", 0) == 0)
    return settings_.max_body_bytes;
  return small_body_bytes;
}

std::optional<api_v1::request_context> api_v1::authorize(const Request& req, Response& res, bool write) {
  request_context who;
  who.peer = fmt::format("{}:{}", req.remote_addr, req.remote_port);
  if (settings_.tokens == nullptr) {
    if (write) {
      send_error(res, 403, "forbidden",
                 "the HTTP API is read-only without tokens: set fleet.http-tokens-file to allow changes");
      return std::nullopt;
    }
    who.scope = "none";
    return who;
  }
  auto challenge = [&](const char* error, const std::string& message) {
    res.set_header("WWW-Authenticate", error == nullptr ? std::string{"Bearer realm=\"fleetd\""}
                                                         : fmt::format("Bearer realm=\"fleetd\", error=\"{}\"", error));
    send_error(res, 401, "unauthorized", message);
    return std::nullopt;
  };
  if (req.get_header_value_count("Authorization") != 1)
    return challenge(nullptr, "this request needs Authorization: Bearer TOKEN (a token of fleet.http-tokens-file)");
  auto value = req.get_header_value("Authorization");
  constexpr std::string_view scheme = "bearer ";
  if (value.size() <= scheme.size()
      || !std::equal(scheme.begin(), scheme.end(), value.begin(),
                     [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); }))
    return challenge("invalid_request", "the Authorization header must be: Bearer TOKEN");
  const auto* principal = settings_.tokens->find(std::string_view{value}.substr(scheme.size()));
  if (principal == nullptr) {
    warn_(fmt::format("http: a request from {} with an unknown token was refused", who.peer));
    return challenge("invalid_token", "the token is not one of fleet.http-tokens-file");
  }
  who.token = principal->name;
  who.scope = principal->scope == api_scope::write ? "write" : "read";
  if (write && principal->scope != api_scope::write) {
    send_error(res, 403, "forbidden", fmt::format("the token {} may only read: changes need a write token", who.token));
    return std::nullopt;
  }
  return who;
}

bool api_v1::allow_read(const Request& req, Response& res) {
  return authorize(req, res, false).has_value();
}

void api_v1::record(const request_context& who, const Request& req, int status, const std::string& batch_id,
                    json detail) {
  detail["token"] = who.token.empty() ? json(nullptr) : json(who.token);
  detail["scope"] = who.scope;
  detail["peer"] = who.peer;
  detail["method"] = req.method;
  detail["path"] = req.path;
  detail["status"] = status;
  caf::scoped_actor self{sys_};
  auto text = dump_json(detail);
  self->request(manager_, settings_.manager_timeout, audit_atom::value, batch_id, text)
    .receive([](bool) {},
             [&](const caf::error& err) {
               spdlog::error("http: the change {} {} by {} was made, but its api_request event was not stored: {}",
                             req.method, req.path, who.token.empty() ? who.peer : who.token, error_text(err));
             });
}

fleet_client api_v1::client() const {
  return fleet_client{sys_, fleet_api_actor{manager_},
                      std::chrono::duration_cast<fleet_client::duration>(settings_.manager_timeout)};
}

fleet_client api_v1::client(const request_context& who) const {
  auto c = client();
  json announced{{"http_peer", who.peer}};
  if (!who.token.empty())
    announced["http_token"] = who.token;
  // A failure here means fleetd is not answering: the change itself then fails and says so.
  (void) c.identify(announced.dump());
  return c;
}

bool api_v1::take_stream_slot(Response& res) {
  if (++streams_ <= settings_.max_streams)
    return true;
  --streams_;
  send_error(res, 503, "too_many_streams",
             fmt::format("{} event streams and large uploads run already (fleet.http-max-streams)",
                         settings_.max_streams));
  return false;
}

void api_v1::serve(httplib::Server& server) {
  enum class need { read, write };
  auto authorize = [this](const Request& req, Response& res, need what) { return this->authorize(req, res, what == need::write); };

  auto client = [this] { return this->client(); };
  auto client_for = [this](const request_context& who) { return this->client(who); };

  auto audit = [this](const request_context& who, const Request& req, int status, const std::string& batch_id,
                      json detail) { record(who, req, status, batch_id, std::move(detail)); };

  server.Get(api_prefix + "/openapi.json", [](const Request&, Response& res) {
    for (const auto& asset : web_assets())
      if (asset.name == "openapi.json") {
        res.set_content(asset.body.data(), asset.body.size(), "application/json");
        return;
      }
    send_error(res, 500, "internal_error", "openapi.json is not embedded");
  });

  serve_submit(server);

  server.Get(api_prefix + R"(/batches/([^/]+))", [client, authorize](const Request& req, Response& res) {
    if (!authorize(req, res, need::read))
      return;
    auto id = batch_id_of(req, res);
    if (!id)
      return;
    answer(res, client().batch_status(*id), [](const batch_status& x) { return to_json(x); });
  });

  // A batch's results and its tasks: the same paging by cursor, each under its own key.
  auto serve_batch_pages = [&](const std::string& what, auto fetch) {
    server.Get(api_prefix + "/batches/([^/]+)/" + what, [client, authorize, what, fetch](const Request& req,
                                                                                        Response& res) {
      if (!authorize(req, res, need::read))
        return;
      auto id = batch_id_of(req, res);
      if (!id)
        return;
      auto cursor = int_param(req, "cursor", 0, 0, INT64_MAX);
      auto limit = int_param(req, "limit", 1000, 1, 10'000);
      if (!cursor || !limit) {
        send_error(res, 400, "invalid_argument", "cursor is a whole number from 0, limit from 1 to 10000");
        return;
      }
      auto c = client();
      auto page = fetch(c, *id, *cursor, static_cast<int32_t>(*limit));
      if (!page)
        send_error(res, page.error());
      else
        send_json_text(res, 200, page_json_text(what, *page));
    });
  };
  serve_batch_pages("results", [](fleet_client& c, const std::string& id, int64_t cursor, int32_t limit) {
    return c.batch_results(id, cursor, limit);
  });
  serve_batch_pages("tasks", [](fleet_client& c, const std::string& id, int64_t cursor, int32_t limit) {
    return c.tasks(id, cursor, limit);
  });

  server.Get(api_prefix + "/dead-letters", [client, authorize](const Request& req, Response& res) {
    if (!authorize(req, res, need::read))
      return;
    auto batch = req.has_param("batch") ? req.get_param_value("batch") : std::string{};
    auto cursor = int_param(req, "cursor", 0, 0, INT64_MAX);
    auto limit = int_param(req, "limit", 1000, 1, 10'000);
    if (!cursor || !limit || !is_utf8(batch)) {
      send_error(res, 400, "invalid_argument",
                 "batch is a batch id, cursor a whole number from 0, limit from 1 to 10000");
      return;
    }
    auto page = client().dead_letters(batch, *cursor, static_cast<int32_t>(*limit));
    if (!page)
      send_error(res, page.error());
    else
      send_json_text(res, 200, page_json_text("dead_letters", *page));
  });

  server.Post(api_prefix + R"(/batches/([^/]+)/(cancel|pause|resume))",
              [client_for, authorize, audit](const Request& req, Response& res) {
                auto who = authorize(req, res, need::write);
                if (!who)
                  return;
                auto id = batch_id_of(req, res);
                if (!id)
                  return;
                auto verb = req.matches[2].str();
                auto c = client_for(*who);
                // The seed's cancel_batch answers false for an unknown id; the API says 404.
                if (auto known = c.batch_status(*id); !known) {
                  send_error(res, known.error());
                  return;
                }
                // A cancel may name tasks: only those are cancelled.
                auto body = object_body(req, res);
                if (!body)
                  return;
                if (verb == "cancel" && !body->empty()) {
                  auto task_ids = accept_body(res, task_ids_body(*body, "cancel"));
                  if (!task_ids)
                    return;
                  auto cancelled = c.cancel_tasks(*id, *task_ids);
                  if (!cancelled) {
                    send_error(res, cancelled.error());
                    return;
                  }
                  audit(*who, req, 200, *id,
                        {{"action", verb}, {"changed", *cancelled > 0}, {"cancelled", *cancelled},
                         {"task_ids", task_ids->size()}});
                  send_json(res, 200, {{"batch_id", *id}, {"action", verb}, {"changed", *cancelled > 0},
                                       {"cancelled", *cancelled}});
                  return;
                }
                if (!body->empty()) {
                  send_error(res, 422, "invalid_argument", fmt::format("a {} takes no body", verb));
                  return;
                }
                auto changed = verb == "cancel" ? c.cancel_batch(*id) : verb == "pause" ? c.pause(*id) : c.resume(*id);
                if (!changed) {
                  send_error(res, changed.error());
                  return;
                }
                audit(*who, req, 200, *id, {{"action", verb}, {"changed", *changed}});
                send_json(res, 200, {{"batch_id", *id}, {"action", verb}, {"changed", *changed}});
              });

  server.Post(api_prefix + R"(/batches/([^/]+)/replay)", [client_for, authorize, audit](const Request& req, Response& res) {
    auto who = authorize(req, res, need::write);
    if (!who)
      return;
    auto id = batch_id_of(req, res);
    if (!id)
      return;
    auto body = object_body(req, res);
    if (!body)
      return;
    auto task_ids = accept_body(res, task_ids_body(*body, "replay"));
    if (!task_ids)
      return;
    auto replayed = client_for(*who).replay(*id, *task_ids);
    if (!replayed) {
      send_error(res, replayed.error());
      return;
    }
    audit(*who, req, 200, *id, {{"action", "replay"}, {"replayed", *replayed}, {"task_ids", task_ids->size()}});
    send_json(res, 200, {{"batch_id", *id}, {"replayed", *replayed}});
  });

  serve_events(server);
  serve_schedules(server);
  serve_queues(server);

  server.Get(api_prefix + "/stats", [client, authorize](const Request& req, Response& res) {
    if (authorize(req, res, need::read))
      answer(res, client().stats(), [](const auto& x) { return to_json(x); });
  });

  server.Get(api_prefix + "/workers", [client, authorize](const Request& req, Response& res) {
    if (authorize(req, res, need::read))
      answer(res, client().active_workers(), [](const auto& x) { return json{{"workers", to_json(x)}}; });
  });

  server.Get(api_prefix + "/nodes", [client, authorize](const Request& req, Response& res) {
    if (authorize(req, res, need::read))
      answer(res, client().nodes(), [](const auto& x) { return json{{"nodes", to_json(x)}}; });
  });

  server.Get(api_prefix + "/config", [client, authorize](const Request& req, Response& res) {
    if (authorize(req, res, need::read))
      answer(res, client().get_config(), [](const auto& x) { return to_json(x); });
  });

  server.Patch(api_prefix + "/config", [client_for, authorize, audit](const Request& req, Response& res) {
    auto who = authorize(req, res, need::write);
    if (!who)
      return;
    auto body = object_body(req, res);
    if (!body)
      return;
    auto update = accept_body(res, config_update_body(*body));
    if (!update)
      return;
    auto cfg = client_for(*who).update_config(*update);
    if (!cfg) {
      send_error(res, cfg.error());
      return;
    }
    audit(*who, req, 200, {}, {{"action", "update_config"}, {"set", *body}});
    send_json(res, 200, to_json(*cfg));
  });

  server.Post(api_prefix + "/scale", [client_for, authorize, audit](const Request& req, Response& res) {
    auto who = authorize(req, res, need::write);
    if (!who)
      return;
    auto body = object_body(req, res);
    if (!body)
      return;
    auto workers = accept_body(res, scale_body(*body));
    if (!workers)
      return;
    auto n = *workers;
    auto cfg = client_for(*who).scale_workers(n);
    if (!cfg) {
      send_error(res, cfg.error());
      return;
    }
    audit(*who, req, 200, {}, {{"action", "scale_workers"}, {"workers", n}});
    send_json(res, 200, to_json(*cfg));
  });

  // Anything else under /api/v1: a JSON 404 (or 405) rather than httplib's empty one.
  auto unknown = [](const Request& req, Response& res) {
    send_error(res, 404, "not_found", fmt::format("no route {} {} (see /api/v1/openapi.json)", req.method,
                                                  quoted_input(req.path, 200)));
  };
  server.Get(api_prefix + "/.*", unknown);
  server.Post(api_prefix + "/.*", unknown);
  server.Put(api_prefix + "/.*", unknown);
  server.Patch(api_prefix + "/.*", unknown);
  server.Delete(api_prefix + "/.*", unknown);
}

} // namespace fleet
