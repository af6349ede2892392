#include "fleet/worker_protocol.hpp"

#include "fleetd/error.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>

using namespace fleet;
using json = nlohmann::json;

namespace {

std::string refusal(std::string_view line) {
  auto r = parse_worker_line(line);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::worker_failed);
  return error_text(r.error());
}

} // namespace

TEST_CASE("a request is one line of compact JSON with everything the worker needs") {
  pool_request r{"w-7", "t1", "b1", "thumbnail", "{\n  \"path\": \"a b.png\",\n  \"n\": [1,\n 2]\n}", 2, 1700000000000};
  auto line = request_line(r);
  REQUIRE(line);
  CHECK(line->back() == '\n');
  CHECK(line->find('\n') == line->size() - 1); // data's own line breaks are gone
  auto msg = json::parse(*line);
  CHECK(msg == json{{"id", "w-7"}, {"task_id", "t1"}, {"batch_id", "b1"}, {"type", "thumbnail"},
                    {"data", {{"path", "a b.png"}, {"n", {1, 2}}}}, {"attempt", 2}, {"deadline_ms", 1700000000000}});
  // A task id with a quote or a line break cannot break the framing.
  r.task_id = "a\"b\nc";
  auto escaped = request_line(r);
  REQUIRE(escaped);
  CHECK(escaped->find('\n') == escaped->size() - 1);
  CHECK(json::parse(*escaped).at("task_id") == "a\"b\nc");
  r.data_json = "{not json";
  CHECK(request_line(r).error() == errc::invalid_task);
}

TEST_CASE("a worker's outcome lines: a result, a failure to retry, a failure for good") {
  auto ok = parse_worker_line(R"({"id": "w-1", "ok": true, "result": {"size": [640, 480]}})");
  REQUIRE(ok);
  CHECK(ok->what == worker_reply::kind::outcome);
  CHECK(ok->id == "w-1");
  CHECK(ok->outcome.success);
  CHECK(json::parse(ok->outcome.result) == json{{"size", {640, 480}}});
  auto no_result = parse_worker_line(R"({"id": "w-1", "ok": true})");
  REQUIRE(no_result);
  CHECK(no_result->outcome.result == "null");
  auto retry = parse_worker_line(R"({"id": "w-2", "ok": false, "error": "upstream busy"})");
  REQUIRE(retry);
  CHECK_FALSE(retry->outcome.success);
  CHECK(retry->outcome.retry);
  CHECK(retry->outcome.error == "upstream busy");
  auto fatal = parse_worker_line(R"({"id": "w-3", "ok": false, "error": "no such file", "retry": false})");
  REQUIRE(fatal);
  CHECK_FALSE(fatal->outcome.retry);
  // Members the protocol does not know (a later version's) are ignored.
  CHECK(parse_worker_line(R"({"id": "w-4", "ok": true, "result": 1, "elapsed_ms": 12})"));
  // A long error is cut at a character boundary.
  std::string long_error(10000, 'x');
  long_error += "\xc3\xa9";
  auto cut = parse_worker_line(json{{"id", "w"}, {"ok", false}, {"error", long_error}}.dump());
  REQUIRE(cut);
  CHECK(cut->outcome.error.size() <= max_worker_text + 3);
}

TEST_CASE("a worker's progress lines") {
  auto p = parse_worker_line(R"({"id": "w-1", "progress": 0.25, "note": "resized"})");
  REQUIRE(p);
  CHECK(p->what == worker_reply::kind::progress);
  CHECK(p->progress == doctest::Approx(0.25));
  CHECK(p->note == "resized");
  CHECK(parse_worker_line(R"({"id": "w-1", "progress": 1})"));
  CHECK(parse_worker_line(R"({"id": "w-1", "progress": 0})"));
}

TEST_CASE("every way a worker can break the protocol is refused with what was wrong") {
  CHECK(refusal("hello").find("a line that is not JSON: \"hello\"") != std::string::npos);
  CHECK(refusal("").find("not JSON") != std::string::npos);
  CHECK(refusal("[1, 2]").find("not a JSON object") != std::string::npos);
  CHECK(refusal(R"({"ok": true})").find("without a string \"id\"") != std::string::npos);
  CHECK(refusal(R"({"id": 7, "ok": true})").find("without a string \"id\"") != std::string::npos);
  CHECK(refusal(R"({"id": "w"})").find("neither \"ok\" nor \"progress\"") != std::string::npos);
  CHECK(refusal(R"({"id": "w", "ok": "yes"})").find("\"ok\" must be true or false") != std::string::npos);
  CHECK(refusal(R"({"id": "w", "ok": false})").find("needs a string \"error\"") != std::string::npos);
  CHECK(refusal(R"({"id": "w", "ok": false, "error": 3})").find("needs a string \"error\"") != std::string::npos);
  CHECK(refusal(R"({"id": "w", "ok": false, "error": "e", "retry": 0})").find("\"retry\"") != std::string::npos);
  CHECK(refusal(R"({"id": "w", "progress": 1.5})").find("from 0 to 1") != std::string::npos);
  CHECK(refusal(R"({"id": "w", "progress": -0.1})").find("from 0 to 1") != std::string::npos);
  CHECK(refusal(R"({"id": "w", "progress": "half"})").find("from 0 to 1") != std::string::npos);
  CHECK(refusal(R"({"id": "w", "progress": 0.5, "note": 1})").find("\"note\" must be a string") != std::string::npos);
  // Bytes that are not UTF-8, deep nesting, a line past the limit: refused, never crashing.
  CHECK(refusal("{\"id\": \"w\xff\", \"ok\": true}").find("not JSON") != std::string::npos);
  CHECK(refusal(std::string(100000, '[')).find("nested too deeply") != std::string::npos);
  CHECK(refusal(std::string(max_worker_line + 1, ' ')).find("more than") != std::string::npos);
  // The refusal quotes the line safely, cut short.
  auto quoted = refusal(std::string(500, 'z') + "\x01");
  CHECK(quoted.size() < 300);
}
