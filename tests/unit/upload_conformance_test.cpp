// Uploads on both backends (issue 24's conformance): chunks staged, sealed into one batch, and what
// the batch then holds. What only SQLite has (parts staged by older fleetd versions, a part damaged
// in the file, its query plans) is in upload_test.cpp.
#include "fleetd/error.hpp"
#include "fleet/store.hpp"
#include "fleet/upload_part.hpp"
#include "in_transaction.hpp"
#include "store_backends.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <type_traits>

using namespace fleet;
using namespace fleet::test;

namespace {

template <class B>
std::vector<task> stored_tasks(B& b, const std::string& batch_id) {
  std::vector<task> out;
  for (const auto& row : b.cells("SELECT task_id, type, data, priority FROM tasks WHERE batch_id = '" + batch_id
                                 + "' ORDER BY seq"))
    out.push_back({row[0], row[1], row[2], static_cast<int32_t>(std::stol(row[3]))});
  return out;
}

std::vector<task> numbered_tasks(int from, int n, int32_t priority = 0) {
  std::vector<task> out;
  for (int i = from; i < from + n; ++i)
    out.push_back({"t" + std::to_string(i), "echo", fmt::format("{{\"i\":{}}}", i), priority});
  return out;
}

} // namespace

TEST_CASE_TEMPLATE("a sealed upload holds every staged task in order, byte for byte", B, STORE_BACKENDS) {
  B f;
  std::vector<task> sent{
    {"quote\"d", "echo", R"({"s":"a \"quoted\" \\ back\\slash","u":"\u00e9\u6f22 \ud83d\ude80"})", 3},
    {"ünïcödé-🚀", "echo", "[1,2,{\"x\":null}]", -2},
    {"control", "echo", R"({"t":"tab\there\nnewline"})", 0},
    {"big-priority", "echo", "42", 2147483647},
  };
  auto more = numbered_tasks(0, 25, 1);
  sent.insert(sent.end(), more.begin(), more.end());
  std::vector<task> first(sent.begin(), sent.begin() + 10), second(sent.begin() + 10, sent.end());
  REQUIRE_FALSE(in_transaction(*f.store, [&] { return f.store->open_upload("u", 1); }));
  auto staged = in_transaction(*f.store, [&] { return f.store->stage_chunk("u", encode_upload_chunk(first)); });
  REQUIRE(staged);
  CHECK(*staged == 10);
  // The second chunk goes in several parts; their order must survive.
  auto parts = encode_upload_chunk(second, 40);
  REQUIRE(parts.size() > 2);
  staged = in_transaction(*f.store, [&] { return f.store->stage_chunk("u", parts); });
  REQUIRE(staged);
  CHECK(*staged == static_cast<int64_t>(sent.size()));
  CHECK(f.q("SELECT count(*) FROM tasks") == 0);
  auto sealed = in_transaction(*f.store, [&] { return f.store->seal_upload("u", "B", 5); });
  REQUIRE(sealed);
  CHECK(*sealed == static_cast<int64_t>(sent.size()));
  CHECK(stored_tasks(f, "B") == sent);
  CHECK(f.q("SELECT count(*) FROM upload_parts") == 0);
  CHECK(f.q("SELECT count(*) FROM uploads") == 0);
  CHECK(f.q("SELECT total FROM batches WHERE id = 'B'") == static_cast<int64_t>(sent.size()));
  CHECK(f.q("SELECT last_seq - first_seq + 1 FROM batches WHERE id = 'B'")
        == static_cast<int64_t>(sent.size()));
  // The highest priority of the batch runs first, then submission order.
  auto next = f.store->next_runnable(fleet::default_queue, 2);
  REQUIRE(next);
  REQUIRE(next->size() == 2);
  CHECK((*next)[0].spec.id == "big-priority");
  CHECK((*next)[1].spec.id == "quote\"d");
}

TEST_CASE_TEMPLATE("a task id repeated across chunks fails the seal with its position, and stores nothing", B, STORE_BACKENDS) {
  B f;
  REQUIRE_FALSE(in_transaction(*f.store, [&] { return f.store->open_upload("u", 1); }));
  REQUIRE(in_transaction(*f.store, [&] { return f.store->stage_chunk("u", encode_upload_chunk(numbered_tasks(0, 3))); }));
  REQUIRE(in_transaction(*f.store, [&] { return f.store->stage_chunk("u", encode_upload_chunk(numbered_tasks(5, 2))); }));
  REQUIRE(in_transaction(*f.store, [&] { return f.store->stage_chunk("u", encode_upload_chunk(numbered_tasks(1, 2))); }));
  auto sealed = in_transaction(*f.store, [&] { return f.store->seal_upload("u", "B", 5); });
  REQUIRE_FALSE(sealed);
  CHECK(sealed.error() == errc::duplicate_task_id);
  CHECK(error_text(sealed.error()) == "task 5 (id \"t1\"): duplicate task id in this batch");
  CHECK(f.q("SELECT count(*) FROM tasks") == 0);
  CHECK(f.q("SELECT count(*) FROM batches") == 0);
  CHECK(f.q("SELECT tasks FROM uploads WHERE id = 'u'") == 7); // left to expire
}

TEST_CASE_TEMPLATE("a sealed upload keeps its tasks' queues and groups, and each queue reads its own", B, STORE_BACKENDS) {
  B f;
  auto tasks = numbered_tasks(0, 4);
  tasks[1].queue = "mail";
  tasks[1].group = "customer-42";
  tasks[2].group = "customer-7";
  tasks[3].queue = "mail";
  REQUIRE_FALSE(in_transaction(*f.store, [&] { return f.store->open_upload("u", 1); }));
  REQUIRE(in_transaction(*f.store, [&] { return f.store->stage_chunk("u", encode_upload_chunk(tasks, 1)); }));
  REQUIRE(in_transaction(*f.store, [&] { return f.store->seal_upload("u", "B", 10); }));
  CHECK(f.rows("SELECT task_id, queue, coalesce(task_group, '-') FROM tasks ORDER BY seq")
        == std::vector<std::string>{"t0|default|-", "t1|mail|customer-42", "t2|default|customer-7", "t3|mail|-"});
  auto reader = f.store->open_reader();
  REQUIRE(reader);
  auto mail = (*reader)->next_runnable("mail", 10);
  REQUIRE(mail);
  REQUIRE(mail->size() == 2);
  CHECK((*mail)[0].spec.id == "t1");
  CHECK((*mail)[0].spec.group == "customer-42");
  CHECK((*mail)[1].spec.id == "t3");
  auto group = (*reader)->runnable_of_group(default_queue, "customer-7", 10, {0, 0}, {0, 1'000'000});
  REQUIRE(group);
  REQUIRE(group->size() == 1);
  CHECK((*group)[0].spec.id == "t2");
  auto pending = (*reader)->pending_by_queue();
  REQUIRE(pending);
  CHECK(pending->at("mail") == 2);
  CHECK(pending->at("default") == 2);
}

TEST_CASE_TEMPLATE("a sealed upload keeps its tasks' policies, and tasks without one have no row", B, STORE_BACKENDS) {
  B f;
  auto tasks = numbered_tasks(0, 5);
  tasks[1].policy.timeout_ms = 1'500;
  tasks[3].policy = {0, 2, 250, -1};
  tasks[4].policy.retry = 0;
  REQUIRE_FALSE(in_transaction(*f.store, [&] { return f.store->open_upload("u", 1); }));
  // Two chunks, the second in parts of one task each: the seqs of every part line up.
  REQUIRE(in_transaction(*f.store, [&] { return f.store->stage_chunk("u", encode_upload_chunk({tasks[0], tasks[1]})); }));
  REQUIRE(in_transaction(*f.store, [&] {
    return f.store->stage_chunk("u", encode_upload_chunk({tasks[2], tasks[3], tasks[4]}, 1));
  }));
  REQUIRE(in_transaction(*f.store, [&] { return f.store->seal_upload("u", "B", 10); }));
  auto q = [&](const std::string& sql) { return f.q(sql); };
  CHECK(q("SELECT count(*) FROM task_policies") == 3);
  auto policy_of = [&](const std::string& id) {
    auto rows = f.rows("SELECT timeout_ms, max_retries, backoff_ms, retry FROM task_policies JOIN tasks ON seq = task_seq"
                       " WHERE task_id = '" + id + "'");
    REQUIRE(rows.size() == 1);
    return rows[0];
  };
  CHECK(policy_of("t1") == "1500|<null>|<null>|<null>");
  CHECK(policy_of("t3") == "<null>|2|250|<null>");
  CHECK(policy_of("t4") == "<null>|<null>|<null>|0");
  // The runnable read hands them to the manager; the others follow the fleet.
  auto reader = f.store->open_reader();
  REQUIRE(reader);
  auto runnable = (*reader)->next_runnable(fleet::default_queue, 10, std::nullopt);
  REQUIRE(runnable);
  REQUIRE(runnable->size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK((*runnable)[i].spec.policy == tasks[i].policy);
  }
  CHECK(q("SELECT last_seq - first_seq FROM batches WHERE id = 'B'") == 4);
}

TEST_CASE_TEMPLATE("a sealed upload's delayed tasks wait as scheduled, counted in their batch", B, STORE_BACKENDS) {
  B f;
  auto tasks = numbered_tasks(0, 4);
  tasks[1].delay_ms = 1'000;     // from the seal's time
  tasks[2].run_at = 50'000;      // absolute
  tasks[3].run_at = 3;           // already past at the seal: pending
  REQUIRE_FALSE(in_transaction(*f.store, [&] { return f.store->open_upload("u", 1); }));
  REQUIRE(in_transaction(*f.store, [&] { return f.store->stage_chunk("u", encode_upload_chunk(tasks)); }));
  REQUIRE(in_transaction(*f.store, [&] { return f.store->seal_upload("u", "B", 10); }));
  auto q = [&](const std::string& sql) { return f.q(sql); };
  CHECK(q("SELECT not_before FROM tasks WHERE task_id = 't0' AND state = 'pending'") == 10);
  CHECK(q("SELECT not_before FROM tasks WHERE task_id = 't1' AND state = 'scheduled'") == 1'010);
  CHECK(q("SELECT not_before FROM tasks WHERE task_id = 't2' AND state = 'scheduled'") == 50'000);
  CHECK(q("SELECT not_before FROM tasks WHERE task_id = 't3' AND state = 'pending'") == 10);
  CHECK(q("SELECT scheduled FROM batches WHERE id = 'B'") == 2);
  CHECK(q("SELECT scheduled FROM fleet_totals") == 2);
}

TEST_CASE_TEMPLATE("a submitted batch and a sealed one are stored the same way: seq range and event", B, STORE_BACKENDS) {
  B f;
  REQUIRE_FALSE(in_transaction(*f.store, [&] { return f.store->insert_batch("A", numbered_tasks(0, 3), 5); }));
  REQUIRE_FALSE(in_transaction(*f.store, [&] { return f.store->open_upload("u", 5); }));
  REQUIRE(in_transaction(*f.store, [&] { return f.store->stage_chunk("u", encode_upload_chunk(numbered_tasks(0, 4))); }));
  REQUIRE(in_transaction(*f.store, [&] { return f.store->seal_upload("u", "B", 6); }));
  REQUIRE_FALSE(in_transaction(*f.store, [&] { return f.store->insert_batch("C", numbered_tasks(0, 2), 7); }));
  // Each batch's range holds exactly its tasks, in submission order, one after another.
  for (auto [id, n] : {std::pair{"A", 3}, std::pair{"B", 4}, std::pair{"C", 2}}) {
    CAPTURE(id);
    auto q = [&](const std::string& sql) { return f.q(fmt::format(fmt::runtime(sql), id)); };
    CHECK(q("SELECT last_seq - first_seq + 1 FROM batches WHERE id = '{}'") == n);
    CHECK(q("SELECT count(*) FROM tasks t JOIN batches b ON t.batch_id = b.id"
            " WHERE b.id = '{}' AND t.seq BETWEEN b.first_seq AND b.last_seq") == n);
  }
  CHECK(f.q("SELECT first_seq FROM batches WHERE id = 'B'")
        == f.q("SELECT last_seq FROM batches WHERE id = 'A'") + 1);
  auto details = f.rows("SELECT detail FROM events WHERE kind = 'batch_submitted' ORDER BY id");
  REQUIRE(details.size() == 3);
  CHECK(nlohmann::json::parse(details[0]) == nlohmann::json{{"tasks", 3}});
  CHECK(nlohmann::json::parse(details[1]) == nlohmann::json{{"tasks", 4}, {"upload", "u"}});
  CHECK(nlohmann::json::parse(details[2]) == nlohmann::json{{"tasks", 2}});
}
