#include "fleet/api_bodies.hpp"

#include "fleetd/error.hpp"

#include <caf/sec.hpp>
#include <doctest/doctest.h>

#include <string>

using namespace fleet;
using json = nlohmann::json;

namespace {

template <class T>
body_problem refusal(const decoded_body<T>& d) {
  REQUIRE(std::holds_alternative<body_problem>(d));
  return std::get<body_problem>(d);
}

template <class T>
const T& value(const decoded_body<T>& d) {
  if (auto* p = std::get_if<body_problem>(&d))
    FAIL("refused: " << p->message);
  return std::get<T>(d);
}

} // namespace

TEST_CASE("a JSON object body: empty, too deep, not JSON, not an object") {
  CHECK(value(json_object_body("", 32, true)).empty());
  CHECK(refusal(json_object_body("", 32, false)).status == 400);
  auto deep = std::string(40, '[') + std::string(40, ']');
  auto too_deep = refusal(json_object_body("{\"a\":" + deep + "}", 32, true));
  CHECK(too_deep.status == 400);
  CHECK(too_deep.message == "the body nests JSON deeper than 32 levels");
  auto not_object = refusal(json_object_body("[1]", 32, true, " of queue limits"));
  CHECK(not_object.code == "bad_request");
  CHECK(not_object.message == "the body must be a JSON object of queue limits");
  CHECK(refusal(json_object_body("{\"a\":", 32, true)).status == 400);
  CHECK(value(json_object_body(R"({"a": [1, {"b": 2}]})", 32, true)).at("a").size() == 2);
}

TEST_CASE("task ids of a cancel or a replay") {
  CHECK(value(task_ids_body(json::object(), "replay")).empty());
  CHECK(value(task_ids_body(json::parse(R"({"task_ids": ["a", "b"]})"), "cancel")) == std::vector<std::string>{"a", "b"});
  auto unknown = refusal(task_ids_body(json::parse(R"({"tasks": ["a"]})"), "cancel"));
  CHECK(unknown.status == 422);
  CHECK(unknown.message == "unknown field \"tasks\" (a cancel has task_ids)");
  CHECK(refusal(task_ids_body(json::parse(R"({"task_ids": "a"})"), "cancel")).code == "invalid_argument");
  CHECK(refusal(task_ids_body(json::parse(R"({"task_ids": ["a", 1]})"), "cancel")).code == "invalid_argument");
}

TEST_CASE("a config change: each field with its JSON type, nothing unknown") {
  auto update = value(config_update_body(json::parse(
    R"({"max_concurrent_workers": 8, "worker_timeout_ms": 5000, "retry_failed_tasks": false, "backoff_factor": 1.5})")));
  REQUIRE(update.max_concurrent_workers);
  REQUIRE(update.worker_timeout_ms);
  REQUIRE(update.retry_failed_tasks);
  REQUIRE(update.backoff_factor);
  CHECK(*update.max_concurrent_workers == 8);
  CHECK(*update.worker_timeout_ms == 5000);
  CHECK_FALSE(*update.retry_failed_tasks);
  CHECK(*update.backoff_factor == 1.5);
  CHECK_FALSE(update.max_retries);
  auto wrong_type = refusal(config_update_body(json::parse(R"({"max_retries": "3"})")));
  CHECK(wrong_type.status == 422);
  CHECK(wrong_type.message == "max_retries must be an integer");
  CHECK(refusal(config_update_body(json::parse(R"({"max_retries": 4294967297})"))).code == "invalid_config");
  CHECK(refusal(config_update_body(json::parse(R"({"max_retries": 18446744073709551615})"))).code == "invalid_config");
  CHECK(refusal(config_update_body(json::parse(R"({"worker_timeout_ms": 18446744073709551615})"))).code
        == "invalid_config");
  CHECK(refusal(config_update_body(json::parse(R"({"retry_failed_tasks": 1})"))).message
        == "retry_failed_tasks must be true or false");
  CHECK(refusal(config_update_body(json::parse(R"({"max_worker": 3})"))).message
        == "unknown field \"max_worker\" (see GET /api/v1/config)");
}

TEST_CASE("a scale is {\"workers\": N} with N from 1 to INT32_MAX") {
  CHECK(value(scale_body(json::parse(R"({"workers": 12})"))) == 12);
  for (auto bad : {R"({})", R"({"workers": 0})", R"({"workers": -1})", R"({"workers": 2147483648})",
                   R"({"workers": 18446744073709551615})", R"({"workers": 2.0})", R"({"workers": 2, "x": 1})"}) {
    CAPTURE(bad);
    CHECK(refusal(scale_body(json::parse(bad))).status == 422);
  }
}

TEST_CASE("a queue change from JSON types") {
  auto change = queue_change_body(json::parse(R"({"max_workers": 4, "rate": "100/1s", "paused": true})"));
  REQUIRE(change);
  CHECK(change->max_workers == 4);
  CHECK(change->rate_count == 100);
  CHECK(change->rate_interval_ms == 1000);
  CHECK(change->paused == 1);
  CHECK(change->weight == -1);
  auto no_rate = queue_change_body(json::parse(R"({"rate": null})"));
  REQUIRE(no_rate);
  CHECK(no_rate->rate_count == 0);
  CHECK_FALSE(queue_change_body(json::parse(R"({"weight": null})")));
  CHECK_FALSE(queue_change_body(json::parse(R"({"weight": 0})")));
  CHECK_FALSE(queue_change_body(json::parse(R"({"limit": 3})")));
  CHECK_FALSE(queue_change_body(json::parse(R"([1])")));
}

TEST_CASE("a submit's envelope: key, policy, and where its tasks are") {
  std::string body = R"({"key": "k-1", "policy": {"max_retries": 2}, "tasks": [{"type": "echo"}]})";
  auto envelope = value(submit_envelope_body(body, ""));
  CHECK(envelope.key == "k-1");
  CHECK(envelope.defaults.max_retries == 2);
  CHECK(envelope.tasks_text == R"([{"type": "echo"}])");
  CHECK(value(submit_envelope_body(body, "k-1")).key == "k-1");
  CHECK(value(submit_envelope_body(R"({"tasks": []})", "from-header")).key == "from-header");
  CHECK(refusal(submit_envelope_body(body, "other")).status == 409);
  CHECK(refusal(submit_envelope_body(R"({"key": 1, "tasks": []})", "")).status == 422);
  CHECK(refusal(submit_envelope_body(R"({"tasks": {}})", "")).code == "invalid_batch");
  CHECK(refusal(submit_envelope_body(R"({"task": []})", "")).message
        == "unknown field \"task\" (a submit has tasks, key and policy)");
  CHECK(refusal(submit_envelope_body(R"({"policy": {"max_retries": -1}, "tasks": []})", "")).status == 422);
  CHECK(refusal(submit_envelope_body("[]", "")).status == 400);
}

TEST_CASE("a fleet error's answer takes the API's status for its code") {
  CHECK(problem_of(caf::make_error(errc::invalid_task, "x")).status == 422);
  CHECK(problem_of(caf::make_error(errc::unknown_batch, "x")).status == 404);
  CHECK(problem_of(caf::make_error(errc::internal_error, "x")).status == 500);
  CHECK(problem_of(caf::make_error(caf::sec::request_timeout)).status == 503);
}
