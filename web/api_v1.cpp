#include "web/api_v1.hpp"

#include "fleetd/client.hpp"
#include "fleetd/error.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/json_text.hpp"
#include "fleet/parse_number.hpp"
#include "fleet/task_file.hpp"
#include "fleet/text.hpp"
#include "web/assets.hpp"
#include "web/body_pipe.hpp"
#include "web/gated_server.hpp"

#include <caf/scoped_actor.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <istream>
#include <optional>
#include <sstream>
#include <thread>

namespace fleet {

namespace {

using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

constexpr size_t small_body_bytes = 64 * 1024; ///< any request but a submit
constexpr size_t upload_chunk_tasks = 10'000;
/// A submit body bigger than this takes a stream slot: it may take longer than the gate's deadline.
constexpr size_t streamed_body_bytes = 1 << 20;

const std::string api_prefix = "/api/v1";

void send_error(Response& res, int status, std::string_view code, const std::string& message) {
  res.status = status;
  res.set_content(dump_json(json{{"error", {{"code", code}, {"message", message}}}}), "application/json");
}

/// fleet::http_status, except that well-formed tasks fleetd refuses are 422 (the HTTP API tells
/// them from malformed requests) and a caught exception is 500.
int api_status(errc x) {
  switch (x) {
    case errc::invalid_batch:
    case errc::invalid_task:
    case errc::duplicate_task_id:
    case errc::unknown_task_type:
    case errc::oversize_data: return 422;
    case errc::internal_error: return 500;
    default: return http_status(x);
  }
}

void send_error(Response& res, const caf::error& err) {
  if (err.category() == error_category) {
    auto code = static_cast<errc>(err.code());
    send_error(res, api_status(code), to_string(code), error_text(err));
    return;
  }
  send_error(res, 503, "unavailable", "the fleet manager did not answer: " + error_text(err));
}

void send_json(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

/// The answer of a query: its JSON, or its error.
template <class T, class Render>
void answer(Response& res, const caf::expected<T>& x, Render render) {
  if (!x)
    send_error(res, x.error());
  else
    send_json(res, 200, render(*x));
}

void send_json_text(Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

/// The media type without parameters, lower case.
std::string media_type(const Request& req) {
  auto value = req.get_header_value("Content-Type");
  auto end = value.find(';');
  auto type = value.substr(0, end);
  while (!type.empty() && type.back() == ' ')
    type.pop_back();
  for (auto& c : type)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type;
}

bool is_json_lines(const std::string& type) {
  return type == "application/x-ndjson" || type == "application/jsonl" || type == "application/json-lines";
}

/// A query parameter in [lo, hi], `fallback` when absent; none when malformed.
std::optional<int64_t> int_param(const Request& req, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  if (!req.has_param(name))
    return fallback;
  auto x = parse_integer(req.get_param_value(name));
  if (!x || *x < lo || *x > hi)
    return std::nullopt;
  return *x;
}

/// A batch id from the path; none (answered) if it cannot be one.
std::optional<std::string> batch_id_of(const Request& req, Response& res) {
  auto id = req.matches[1].str();
  if (!is_utf8(id)) {
    send_error(res, 404, "unknown_batch", fmt::format("batch {} not found (batch ids are UTF-8)", quoted_input(id)));
    return std::nullopt;
  }
  return id;
}

/// A JSON object body (empty: `{}`); none (answered 400) if it is something else.
std::optional<json> object_body(const Request& req, Response& res) {
  if (req.body.empty())
    return json::object();
  if (json_nesting(req.body, 32) > 32) {
    send_error(res, 400, "bad_request", "the body nests JSON deeper than 32 levels");
    return std::nullopt;
  }
  auto doc = json::parse(req.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    send_error(res, 400, "bad_request", "the body must be a JSON object");
    return std::nullopt;
  }
  return doc;
}

bool is_final(const batch_status& st) {
  return st.finished_at != 0;
}

std::string sse_event(std::string_view name, const std::string& data) {
  return fmt::format("event: {}\ndata: {}\n\n", name, data);
}

} // namespace


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

void api_v1::serve(httplib::Server& server) {
  enum class need { read, write };
  auto authorize = [this](const Request& req, Response& res, need what) { return this->authorize(req, res, what == need::write); };

  auto client = [this] {
    return fleet_client{sys_, fleet_api_actor{manager_},
                        std::chrono::duration_cast<fleet_client::duration>(settings_.manager_timeout)};
  };

  // Records who changed what (an api_request event) before the answer goes out.
  auto audit = [this](const request_context& who, const Request& req, int status, const std::string& batch_id,
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
  };

  server.Get(api_prefix + "/openapi.json", [](const Request&, Response& res) {
    for (const auto& asset : web_assets())
      if (asset.name == "openapi.json") {
        res.set_content(asset.body.data(), asset.body.size(), "application/json");
        return;
      }
    send_error(res, 500, "internal_error", "openapi.json is not embedded");
  });

  server.Post(api_prefix + "/batches", [this, client, authorize, audit](const Request& req, Response& res,
                                                                       const httplib::ContentReader& reader) {
    auto who = authorize(req, res, need::write);
    if (!who)
      return;
    auto type = media_type(req);
    bool lines = is_json_lines(type);
    if (!lines && type != "application/json") {
      send_error(res, 415, "unsupported_media_type",
                 "a submit is application/json ({\"tasks\": [...]}) or application/x-ndjson (one task per line)");
      return;
    }
    auto key = req.get_header_value("Idempotency-Key");
    if (!is_utf8(key)) {
      send_error(res, 400, "bad_request", "the Idempotency-Key header must be UTF-8");
      return;
    }
    auto length = request_content_length(req);
    // A big body may take longer than the gate's deadline: it needs a stream slot.
    struct slot_guard {
      std::atomic<size_t>* n = nullptr;
      ~slot_guard() {
        if (n != nullptr)
          --*n;
      }
    } slot;
    if (length > streamed_body_bytes) {
      if (++streams_ > settings_.max_streams) {
        --streams_;
        send_error(res, 503, "too_many_streams",
                   fmt::format("{} event streams and large uploads run already (fleet.http-max-streams)",
                               settings_.max_streams));
        return;
      }
      slot.n = &streams_;
      gated_server::keep_open_while_active(settings_.manager_timeout * 2);
    }
    auto c = client();
    auto limits = c.limits();
    if (!limits) {
      send_error(res, limits.error());
      return;
    }
    caf::expected<std::string> batch_id{std::string{}};
    size_t tasks = 0;
    if (!lines) {
      std::string body;
      bool too_big = false;
      bool whole = reader([&](const char* data, size_t size) {
        if (body.size() + size > settings_.max_body_bytes) {
          too_big = true;
          return false;
        }
        body.append(data, size);
        return true;
      });
      if (too_big) {
        send_error(res, 413, "payload_too_large",
                   fmt::format("the body is larger than {} bytes (fleet.http-max-body); send big batches as "
                               "application/x-ndjson",
                               settings_.max_body_bytes));
        return;
      }
      if (!whole) {
        spdlog::info("http: a submit from {} ended before its body was whole: nothing stored", who->peer);
        return;
      }
      if (!is_utf8(body)) {
        send_error(res, 400, "bad_request", "the body is not UTF-8 text");
        return;
      }
      if (json_nesting(body, max_json_nesting + 3) > max_json_nesting + 3) {
        send_error(res, 422, "invalid_task", fmt::format("the body nests JSON deeper than task data may ({} levels)",
                                                         max_json_nesting));
        return;
      }
      auto doc = json::parse(body, nullptr, false);
      if (doc.is_discarded() || !doc.is_object()) {
        send_error(res, 400, "bad_request", "the body must be a JSON object: {\"tasks\": [...], \"key\": \"...\"}");
        return;
      }
      for (const auto& [name, value] : doc.items()) {
        if (name == "key") {
          if (!value.is_string()) {
            send_error(res, 422, "invalid_argument", "\"key\" must be a string");
            return;
          }
          auto body_key = value.get<std::string>();
          if (!key.empty() && body_key != key) {
            send_error(res, 409, "conflict", "the Idempotency-Key header and the body's \"key\" differ");
            return;
          }
          key = body_key;
        } else if (name != "tasks") {
          send_error(res, 422, "invalid_argument",
                     fmt::format("unknown field {} (a submit has tasks and key)", quoted_input(name)));
          return;
        }
      }
      auto raw = json_member_text(body, "tasks");
      if (!raw || !doc["tasks"].is_array()) {
        send_error(res, 422, "invalid_batch", "\"tasks\" must be an array of task objects");
        return;
      }
      std::istringstream in{std::string{*raw}};
      task_stream stream{in, "body", *limits};
      auto all = stream.next(SIZE_MAX);
      if (!all) {
        send_error(res, all.error());
        return;
      }
      tasks = all->size();
      batch_id = c.submit_batch(key, std::move(*all), upload_chunk_tasks);
    } else {
      // Parsed and staged on a thread of its own while this one reads the socket: never whole in memory.
      auto upload = c.open_upload();
      if (!upload) {
        send_error(res, upload.error());
        return;
      }
      body_pipe pipe;
      caf::error staged;
      std::thread parser{[&] {
        std::istream in{&pipe};
        task_stream stream{in, "body", *limits};
        while (!stream.done()) {
          auto chunk = stream.next(upload_chunk_tasks);
          if (!chunk) {
            staged = std::move(chunk.error());
            break;
          }
          tasks += chunk->size();
          if (chunk->empty())
            continue;
          if (auto err = upload->add(std::move(*chunk))) {
            staged = std::move(err);
            break;
          }
        }
        pipe.abandon();
      }};
      bool whole = reader([&](const char* data, size_t size) { return pipe.push(data, size); });
      pipe.close();
      parser.join();
      if (staged) {
        send_error(res, staged);
        return;
      }
      if (!whole) {
        // The upload is never sealed: fleetd drops it, and no part of it becomes a batch.
        spdlog::info("http: a submit from {} ended before its body was whole: nothing stored", who->peer);
        return;
      }
      batch_id = upload->seal(key);
    }
    if (!batch_id) {
      send_error(res, batch_id.error());
      return;
    }
    audit(*who, req, 201, *batch_id, {{"action", "submit"}, {"tasks", tasks}, {"key", key}});
    res.set_header("Location", api_prefix + "/batches/" + *batch_id);
    send_json(res, 201, {{"batch_id", *batch_id}});
  });

  server.Get(api_prefix + R"(/batches/([^/]+))", [client, authorize](const Request& req, Response& res) {
    if (!authorize(req, res, need::read))
      return;
    auto id = batch_id_of(req, res);
    if (!id)
      return;
    answer(res, client().batch_status(*id), [](const batch_status& x) { return to_json(x); });
  });

  server.Get(api_prefix + R"(/batches/([^/]+)/results)", [client, authorize](const Request& req, Response& res) {
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
    auto page = client().batch_results(*id, *cursor, static_cast<int32_t>(*limit));
    if (!page) {
      send_error(res, page.error());
      return;
    }
    std::string body = "{\"results\": [";
    for (size_t i = 0; i < page->items.size(); ++i) {
      if (i > 0)
        body += ", ";
      body += to_json_text(page->items[i]);
    }
    body += fmt::format("], \"next_cursor\": {}, \"done\": {}}}", page->next_cursor, page->done);
    send_json_text(res, 200, std::move(body));
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
    if (!page) {
      send_error(res, page.error());
      return;
    }
    std::string body = "{\"dead_letters\": [";
    for (size_t i = 0; i < page->items.size(); ++i) {
      if (i > 0)
        body += ", ";
      body += to_json_text(page->items[i]);
    }
    body += fmt::format("], \"next_cursor\": {}, \"done\": {}}}", page->next_cursor, page->done);
    send_json_text(res, 200, std::move(body));
  });

  server.Post(api_prefix + R"(/batches/([^/]+)/(cancel|pause|resume))",
              [client, authorize, audit](const Request& req, Response& res) {
                auto who = authorize(req, res, need::write);
                if (!who)
                  return;
                auto id = batch_id_of(req, res);
                if (!id)
                  return;
                auto verb = req.matches[2].str();
                auto c = client();
                // The seed's cancel_batch answers false for an unknown id; the API says 404.
                if (auto known = c.batch_status(*id); !known) {
                  send_error(res, known.error());
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

  server.Post(api_prefix + R"(/batches/([^/]+)/replay)", [client, authorize, audit](const Request& req, Response& res) {
    auto who = authorize(req, res, need::write);
    if (!who)
      return;
    auto id = batch_id_of(req, res);
    if (!id)
      return;
    auto body = object_body(req, res);
    if (!body)
      return;
    std::vector<std::string> task_ids;
    for (const auto& [name, value] : body->items()) {
      if (name != "task_ids") {
        send_error(res, 422, "invalid_argument", fmt::format("unknown field {} (a replay has task_ids)", quoted_input(name)));
        return;
      }
      if (!value.is_array()) {
        send_error(res, 422, "invalid_argument", "\"task_ids\" must be an array of task ids");
        return;
      }
      for (const auto& t : value) {
        if (!t.is_string()) {
          send_error(res, 422, "invalid_argument", "\"task_ids\" must be an array of task ids");
          return;
        }
        task_ids.push_back(t.get<std::string>());
      }
    }
    auto replayed = client().replay(*id, task_ids);
    if (!replayed) {
      send_error(res, replayed.error());
      return;
    }
    audit(*who, req, 200, *id, {{"action", "replay"}, {"replayed", *replayed}, {"task_ids", task_ids.size()}});
    send_json(res, 200, {{"batch_id", *id}, {"replayed", *replayed}});
  });

  server.Get(api_prefix + R"(/batches/([^/]+)/events)", [this, client, authorize](const Request& req, Response& res) {
    if (!authorize(req, res, need::read))
      return;
    auto id = batch_id_of(req, res);
    if (!id)
      return;
    auto first = client().batch_status(*id);
    if (!first) {
      send_error(res, first.error());
      return;
    }
    if (++streams_ > settings_.max_streams) {
      --streams_;
      send_error(res, 503, "too_many_streams",
                 fmt::format("{} event streams and large uploads run already (fleet.http-max-streams)",
                             settings_.max_streams));
      return;
    }
    gated_server::keep_open_while_active(settings_.stream_idle * 2);
    struct stream_state {
      std::optional<batch_status> last;
      std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
      bool done = false;
    };
    auto state = std::make_shared<stream_state>();
    auto id_copy = *id;
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
      "text/event-stream",
      [this, client, state, id_copy](size_t, httplib::DataSink& sink) {
        if (state->done || stopping_) {
          sink.done();
          return true;
        }
        auto st = client().batch_status(id_copy);
        auto now = std::chrono::steady_clock::now();
        if (!st) {
          auto text = dump_json(json{{"code", to_string(static_cast<errc>(st.error().code()))},
                                     {"message", error_text(st.error())}});
          auto event = sse_event("error", text);
          if (!sink.write(event.data(), event.size()))
            return false;
          state->done = true;
          return true;
        }
        bool changed = !state->last || st->completed != state->last->completed || st->failed != state->last->failed
                       || st->cancelled != state->last->cancelled || st->status != state->last->status
                       || st->paused != state->last->paused;
        if (changed) {
          auto final = is_final(*st);
          auto event = sse_event(final ? "done" : "status", dump_json(to_json(*st)));
          if (!sink.write(event.data(), event.size()))
            return false; // the client went away
          state->last = *st;
          state->last_write = now;
          state->done = final;
          return true;
        }
        if (now - state->last_write >= settings_.stream_idle) {
          static constexpr std::string_view keep_alive = ": keep-alive\n\n";
          if (!sink.write(keep_alive.data(), keep_alive.size()))
            return false;
          state->last_write = now;
        }
        std::this_thread::sleep_for(settings_.stream_poll);
        return true;
      },
      [this](bool) { --streams_; });
  });

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

  server.Patch(api_prefix + "/config", [client, authorize, audit](const Request& req, Response& res) {
    auto who = authorize(req, res, need::write);
    if (!who)
      return;
    auto body = object_body(req, res);
    if (!body)
      return;
    config_update update;
    auto wrong = [&](const std::string& name, const char* what) {
      send_error(res, 422, "invalid_config", fmt::format("{} must be {}", name, what));
    };
    for (const auto& [name, value] : body->items()) {
      if (name == "max_concurrent_workers" || name == "max_retries") {
        if (!value.is_number_integer() || value.get<int64_t>() < INT32_MIN || value.get<int64_t>() > INT32_MAX)
          return wrong(name, "an integer");
        (name == "max_retries" ? update.max_retries : update.max_concurrent_workers) = value.get<int32_t>();
      } else if (name == "worker_timeout_ms" || name == "backoff_base_ms" || name == "backoff_cap_ms") {
        if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX))
          return wrong(name, "an integer");
        auto& field = name == "worker_timeout_ms" ? update.worker_timeout_ms
                      : name == "backoff_base_ms" ? update.backoff_base_ms
                                                  : update.backoff_cap_ms;
        field = value.get<int64_t>();
      } else if (name == "retry_failed_tasks") {
        if (!value.is_boolean())
          return wrong(name, "true or false");
        update.retry_failed_tasks = value.get<bool>();
      } else if (name == "backoff_factor") {
        if (!value.is_number())
          return wrong(name, "a number");
        update.backoff_factor = value.get<double>();
      } else {
        send_error(res, 422, "invalid_config", fmt::format("unknown field {} (see GET /api/v1/config)", quoted_input(name)));
        return;
      }
    }
    auto cfg = client().update_config(update);
    if (!cfg) {
      send_error(res, cfg.error());
      return;
    }
    audit(*who, req, 200, {}, {{"action", "update_config"}, {"set", *body}});
    send_json(res, 200, to_json(*cfg));
  });

  server.Post(api_prefix + "/scale", [client, authorize, audit](const Request& req, Response& res) {
    auto who = authorize(req, res, need::write);
    if (!who)
      return;
    auto body = object_body(req, res);
    if (!body)
      return;
    if (body->size() != 1 || !body->contains("workers") || !(*body)["workers"].is_number_integer()
        || (*body)["workers"].get<int64_t>() < 1 || (*body)["workers"].get<int64_t>() > INT32_MAX) {
      send_error(res, 422, "invalid_config", "a scale is {\"workers\": N} with N >= 1");
      return;
    }
    auto n = (*body)["workers"].get<int32_t>();
    auto cfg = client().scale_workers(n);
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
