#pragma once

// What the two files of the HTTP API (web/api_v1.cpp: the routes; web/api_v1_streams.cpp: the
// submit and the event stream) share: the error format, parameters, and response helpers.

#include "fleetd/error.hpp"
#include "fleet/api_bodies.hpp"
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

inline void send_error(Response& res, const body_problem& p) {
  send_error(res, p.status, p.code, p.message);
}

inline void send_error(Response& res, const caf::error& err) {
  send_error(res, problem_of(err));
}

/// A decoded body; none (answered) if it was refused.
template <class T>
std::optional<T> accept_body(Response& res, decoded_body<T> d) {
  if (auto* p = std::get_if<body_problem>(&d)) {
    send_error(res, *p);
    return std::nullopt;
  }
  return std::move(std::get<T>(d));
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
  return accept_body(res, json_object_body(req.body, 32, true));
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
