#include "fleet/dependency_graph.hpp"

#include "fleetd/error.hpp"
#include "fleet/task_file.hpp"
#include "fleet/upload_part.hpp"

#include <doctest/doctest.h>

using namespace fleet;

namespace {

task node(std::string id, std::vector<std::string> after = {}) {
  task t{std::move(id), "echo", "{}", 0};
  t.after = std::move(after);
  return t;
}

std::string problem(const std::vector<task>& tasks, bool whole = true) {
  auto err = validate_dependencies(tasks, whole);
  return err ? error_text(err) : std::string{};
}

} // namespace

TEST_CASE("find_dependency_cycle finds none in a DAG and names one where there is one") {
  CHECK(find_dependency_cycle(0, {}).empty());
  CHECK(find_dependency_cycle(3, {{1, 0}, {2, 1}, {2, 0}}).empty());
  auto cycle = find_dependency_cycle(4, {{0, 1}, {1, 2}, {2, 0}, {3, 0}});
  REQUIRE(cycle.size() == 4);
  CHECK(cycle.front() == cycle.back());
  // Each runs after the next: every step is an edge.
  for (size_t i = 0; i + 1 < cycle.size(); ++i)
    CHECK((cycle[i] + 1) % 3 == cycle[i + 1]);
  // A task behind a cycle is not part of the cycle named.
  auto behind = find_dependency_cycle(3, {{0, 1}, {1, 2}, {2, 1}});
  REQUIRE(behind.size() == 3);
  CHECK(std::find(behind.begin(), behind.end(), 0u) == behind.end());
}

TEST_CASE("a long chain is checked in linear time without recursion") {
  constexpr uint32_t n = 1'000'000;
  std::vector<dependency_edge> chain;
  chain.reserve(n);
  for (uint32_t i = 1; i < n; ++i)
    chain.push_back({i, i - 1});
  CHECK(find_dependency_cycle(n, chain).empty());
  chain.push_back({0, n - 1});
  CHECK(find_dependency_cycle(n, chain).size() == n + 1);
}

TEST_CASE("describe_cycle writes who runs after whom, shortened when long") {
  CHECK(describe_cycle({"a", "b", "a"}) == "\"a\" runs after \"b\", \"b\" runs after \"a\"");
  std::vector<std::string> long_cycle;
  for (int i = 0; i < 30; ++i)
    long_cycle.push_back("t" + std::to_string(i));
  long_cycle.push_back("t0");
  auto text = describe_cycle(long_cycle);
  CHECK(text.find("more)") != std::string::npos);
  CHECK(text.size() < 300);
}

TEST_CASE("validate_dependencies refuses what could never run, naming the task") {
  CHECK(problem({node("a"), node("b", {"a"}), node("c", {"a", "b"})}).empty());
  CHECK(problem({node("a", {"a"})}).find("names the task itself") != std::string::npos);
  CHECK(problem({node("a", {"x"})}) == "task 0 (id \"a\"): \"after\" names \"x\", which is not a task of this batch");
  CHECK(problem({node("a"), node("b", {"a", "a"})}).find("names \"a\" twice") != std::string::npos);
  auto cyclic = problem({node("a", {"b"}), node("b", {"a"})});
  CHECK(cyclic.find("cycle") != std::string::npos);
  CHECK(validate_dependencies({node("a", {"b"}), node("b", {"a"})}) == errc::invalid_batch);
  auto delayed = node("b", {"a"});
  delayed.run_at = 1;
  CHECK(problem({node("a"), delayed}).find("run_at or delay_ms") != std::string::npos);
  std::vector<std::string> many(max_dependencies_per_task + 1, "a");
  CHECK(problem({node("a"), node("b", many)}).find("more than the limit") != std::string::npos);
  // A chunk of an upload: ids of other chunks and cycles are the seal's to judge.
  CHECK(problem({node("a", {"elsewhere"})}, false).empty());
  CHECK(problem({node("a", {"a"})}, false).find("itself") != std::string::npos);
}

TEST_CASE("a task file's \"after\" is an array of ids") {
  auto ok = parse_task_file(R"({"id": "b", "type": "echo", "after": ["a", "c"]})", "t.jsonl");
  REQUIRE(ok);
  CHECK(ok->front().after == std::vector<std::string>{"a", "c"});
  for (auto bad : {R"({"type": "echo", "after": "a"})", R"({"type": "echo", "after": [1]})",
                   R"({"type": "echo", "after": [""]})"}) {
    CAPTURE(bad);
    auto parsed = parse_task_file(bad, "t.jsonl");
    REQUIRE_FALSE(parsed);
    CHECK(error_text(parsed.error()).find("\"after\" must be an array of task ids") != std::string::npos);
  }
}

TEST_CASE("an upload part carries a task's \"after\" as an extension, and refuses a damaged one") {
  auto t = node("b", {"a", "\xc3\xa9t\xc3\xa9"});
  t.policy.max_retries = 2;
  auto parts = encode_upload_chunk({node("a"), t});
  REQUIRE(parts.size() == 1);
  upload_part_reader reader{parts[0].body};
  staged_task s;
  REQUIRE(reader.next(s));
  CHECK(s.after_json.empty());
  REQUIRE(reader.next(s));
  CHECK(s.after_json == "[\"a\",\"\xc3\xa9t\xc3\xa9\"]");
  CHECK(s.policy.max_retries == 2);
  CHECK_FALSE(reader.next(s));
  CHECK_FALSE(reader.damaged());
  // An empty list is never written: a part that holds one was not written by fleetd.
  auto body = parts[0].body;
  auto at = body.find(std::string{"\x02"} + std::string{"\x12\0\0\0", 4});
  REQUIRE(at != std::string::npos);
  body[at + 5] = '\0'; // the count of ids
  upload_part_reader damaged{body};
  REQUIRE(damaged.next(s));
  CHECK_FALSE(damaged.next(s));
  CHECK(damaged.damaged());
}
