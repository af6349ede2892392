#pragma once

// What the two files of the HTTP API (web/api_v1.cpp: the routes; web/api_v1_streams.cpp: the
// submit and the event stream) share: the error format, parameters, and response helpers.

#include "fleetd/error.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/json_text.hpp"
#include "fleet/parse_number.hpp"
#include "fleet/text.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <optional>
#include <string>
#include <string_view>

namespace fleet::api_detail {

using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

inline constexpr size_t small_body_bytes = 64 * 1024; ///< any request but a submit
inline constexpr size_t upload_chunk_tasks = 10'000;
/// A submit body bigger than this takes a stream slot: it may take longer than the gate's deadline.
inline constexpr size_t streamed_body_bytes = 1 << 20;

inline const std::string api_prefix = "/api/v1";

inline void send_error(Response& res, int status, std::string_view code, const std::string& message) {
  res.status = status;
  res.set_content(dump_json(json{{"error", {{"code", code}, {"message", message}}}}), "application/json");
}

/// fleet::http_status, except that well-formed tasks fleetd refuses are 422 (the HTTP API tells
/// them from malformed requests) and a caught exception is 500.
inline int api_status(errc x) {
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

inline void send_error(Response& res, const caf::error& err) {
  if (err.category() == error_category) {
    auto code = static_cast<errc>(err.code());
    send_error(res, api_status(code), to_string(code), error_text(err));
    return;
  }
  send_error(res, 503, "unavailable", "the fleet manager did not answer: " + error_text(err));
}

inline void send_json(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

/// The answer of a query: its JSON, or its error.
template <class T, class Render>
inline void answer(Response& res, const caf::expected<T>& x, Render render) {
  if (!x)
    send_error(res, x.error());
  else
    send_json(res, 200, render(*x));
}

inline void send_json_text(Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

/// The media type without parameters, lower case.
inline std::string media_type(const Request& req) {
  auto value = req.get_header_value("Content-Type");
  auto end = value.find(';');
  auto type = value.substr(0, end);
  while (!type.empty() && type.back() == ' ')
    type.pop_back();
  for (auto& c : type)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type;
}

inline bool is_json_lines(const std::string& type) {
  return type == "application/x-ndjson" || type == "application/jsonl" || type == "application/json-lines";
}

/// A query parameter in [lo, hi], `fallback` when absent; none when malformed.
inline std::optional<int64_t> int_param(const Request& req, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  if (!req.has_param(name))
    return fallback;
  auto x = parse_integer(req.get_param_value(name));
  if (!x || *x < lo || *x > hi)
    return std::nullopt;
  return *x;
}

/// A batch id from the path; none (answered) if it cannot be one.
inline std::optional<std::string> batch_id_of(const Request& req, Response& res) {
  auto id = req.matches[1].str();
  if (!is_utf8(id)) {
    send_error(res, 404, "unknown_batch", fmt::format("batch {} not found (batch ids are UTF-8)", quoted_input(id)));
    return std::nullopt;
  }
  return id;
}

/// A JSON object body (empty: `{}`); none (answered 400) if it is something else.
inline std::optional<json> object_body(const Request& req, Response& res) {
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

/// The body's "task_ids" (an array of strings; none given: empty), the only member `what` (a
/// replay, a cancel) takes; none (answered 422) otherwise.
inline std::optional<std::vector<std::string>> task_ids_of(const json& body, Response& res, const char* what) {
  std::vector<std::string> task_ids;
  for (const auto& [name, value] : body.items()) {
    if (name != "task_ids") {
      send_error(res, 422, "invalid_argument", fmt::format("unknown field {} (a {} has task_ids)", quoted_input(name), what));
      return std::nullopt;
    }
    if (!value.is_array()) {
      send_error(res, 422, "invalid_argument", "\"task_ids\" must be an array of task ids");
      return std::nullopt;
    }
    for (const auto& t : value) {
      if (!t.is_string()) {
        send_error(res, 422, "invalid_argument", "\"task_ids\" must be an array of task ids");
        return std::nullopt;
      }
      task_ids.push_back(t.get<std::string>());
    }
  }
  return task_ids;
}

inline bool is_final(const batch_status& st) {
  return st.finished_at != 0;
}

/// A page of results or dead letters as JSON text, each item as written by its worker:
/// {"NAME": [...], "next_cursor": N, "done": B}.
template <class Page>
std::string page_json_text(std::string_view name, const Page& page) {
  std::string out = fmt::format("{{\"{}\": [", name);
  for (size_t i = 0; i < page.items.size(); ++i) {
    if (i > 0)
      out += ", ";
    out += to_json_text(page.items[i]);
  }
  out += fmt::format("], \"next_cursor\": {}, \"done\": {}}}", page.next_cursor, page.done);
  return out;
}

inline std::string sse_event(std::string_view name, const std::string& data) {
  return fmt::format("event: {}\ndata: {}\n\n", name, data);
}


} // namespace fleet::api_detail
