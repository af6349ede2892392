// Uploads: chunks staged as binary rows, sealed into one batch.
#include "fleetd/error.hpp"
#include "fleet/store.hpp"
#include "fleet/store_sql.hpp"
#include "fleet/upload_part.hpp"
#include "in_transaction.hpp"
#include "query_db.hpp"
#include "store_fixture.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <set>
#include <type_traits>

using namespace fleet;
using namespace fleet::test;

namespace {

std::vector<task> numbered(int from, int n, int32_t priority = 0) {
  std::vector<task> out;
  for (int i = from; i < from + n; ++i)
    out.push_back({"t" + std::to_string(i), "echo", fmt::format("{{\"i\":{}}}", i), priority});
  return out;
}

std::vector<task> decoded(std::string_view body) {
  std::vector<task> out;
  upload_part_reader reader{body};
  staged_task t;
  while (reader.next(t)) {
    out.push_back(
      {std::string{t.id}, std::string{t.type}, std::string{t.data}, t.priority, t.run_at, t.delay_ms, t.policy});
    out.back().queue = std::string{t.queue};
    out.back().group = std::string{t.group};
  }
  CHECK_FALSE(reader.damaged());
  return out;
}

bool same(const std::vector<task>& a, const std::vector<task>& b) {
  return a == b;
}

} // namespace

TEST_CASE("a chunk is one part unless its body passes the size bound") {
  auto tasks = numbered(0, 10);
  auto one = encode_upload_chunk(tasks);
  REQUIRE(one.size() == 1);
  CHECK(one[0].offset == 0);
  CHECK(one[0].tasks == 10);
  CHECK(same(decoded(one[0].body), tasks));
  // 4 bytes of header, then 49 per task ("t3", "echo", {"i":3}, their lengths, the priority, the
  // two start times and no extension): a bound of 150 closes a part every third task.
  auto parts = encode_upload_chunk(tasks, 150);
  REQUIRE(parts.size() == 4);
  int64_t next = 0;
  for (const auto& p : parts) {
    CHECK(p.offset == next);
    auto back = decoded(p.body);
    REQUIRE(back.size() == static_cast<size_t>(p.tasks));
    CHECK(same(back, std::vector<task>(tasks.begin() + next, tasks.begin() + next + p.tasks)));
    next += p.tasks;
  }
  CHECK(next == 10);
}

TEST_CASE("a part's body reads back byte for byte, and a damaged one is never read past its end") {
  std::vector<task> sent{{"", "echo", "", -1, 0, 0},
                         {"id\0with\nbytes", "t", std::string(300, 'x'), 2147483647, 1'796'193'031'000, 0},
                         {"\xc3\xa9", "echo", "{}", -2147483647 - 1, 0, INT64_MAX}};
  sent[1].id[2] = '\0';
  sent[2].policy = {1, 0, 0, 0};
  sent[1].policy.timeout_ms = INT64_MAX;
  sent[1].queue = "q.1";
  sent[1].group = "tenant \xc3\xa9";
  sent[2].group = "g";
  auto body = encode_upload_chunk(sent).at(0).body;
  CHECK(same(decoded(body), sent));
  auto big = std::vector<task>{{"big", "echo", std::string(70000, 'y'), 0}};
  CHECK(same(decoded(encode_upload_chunk(big).at(0).body), big));
  // Cut anywhere: either inside a task (damaged) or where a task ends (fewer tasks, which the
  // seal catches by the part's count).
  std::set<size_t> task_ends;
  for (size_t k = 0; k < sent.size(); ++k)
    task_ends.insert(encode_upload_chunk({sent.begin(), sent.begin() + static_cast<long>(k)}).empty()
                       ? 4
                       : encode_upload_chunk({sent.begin(), sent.begin() + static_cast<long>(k)})[0].body.size());
  for (size_t cut = 0; cut < body.size(); ++cut) {
    upload_part_reader reader{std::string_view{body}.substr(0, cut)};
    staged_task t;
    size_t n = 0;
    while (reader.next(t))
      ++n;
    CHECK(n < sent.size());
    if (reader.damaged() == (task_ends.count(cut) > 0))
      FAIL_CHECK("cut at ", cut, ": damaged ", reader.damaged());
  }
  SUBCASE("a length past the end") {
    auto bad = body;
    bad[4 + 40 + 3] = '\x7f'; // the high byte of the second task's id length (the first task is 40 bytes)
    upload_part_reader reader{bad};
    staged_task t;
    CHECK(reader.next(t));
    CHECK_FALSE(reader.next(t));
    CHECK(reader.damaged());
  }
  SUBCASE("an extension this fleetd does not know") {
    auto bad = encode_upload_chunk({sent[2]}).at(0).body;
    auto tag_at = bad.size() - (1 + 4 + 24);
    REQUIRE(bad[tag_at] == '\x01');
    bad[tag_at] = '\x09';
    upload_part_reader reader{bad};
    staged_task t;
    CHECK_FALSE(reader.next(t));
    CHECK(reader.damaged());
  }
  SUBCASE("a policy extension that sets nothing, which fleetd never writes") {
    auto bad = encode_upload_chunk({sent[2]}).at(0).body;
    // sent[2]'s policy is {1, 0, 0, 0}: its timeout (the extension's first 8 bytes) becomes 0, its
    // max_retries -1, its backoff -1 and retry -1.
    auto at = bad.size() - 24;
    bad.replace(at, 24, std::string(8, '\0') + std::string(16, '\xff'));
    upload_part_reader reader{bad};
    staged_task t;
    CHECK_FALSE(reader.next(t));
    CHECK(reader.damaged());
  }
  SUBCASE("an empty queue, which fleetd never writes") {
    auto t = sent[0];
    t.queue = "q";
    auto bad = encode_upload_chunk({t}).at(0).body;
    // The task ends with the queue extension: tag 3, length 1, "q".
    REQUIRE(bad.substr(bad.size() - 6) == std::string{"\x03\x01\0\0\0q", 6});
    bad.replace(bad.size() - 5, 5, std::string{"\0\0\0\0", 4});
    upload_part_reader reader{bad};
    staged_task st;
    CHECK_FALSE(reader.next(st));
    CHECK(reader.damaged());
  }
  SUBCASE("no header") {
    upload_part_reader reader{std::string_view{body}.substr(1)};
    staged_task t;
    CHECK_FALSE(reader.next(t));
    CHECK(reader.damaged());
  }
}

TEST_CASE("a part staged before delayed tasks (FUP1, without start times) is still read and sealed") {
  // What fleetd wrote before: per task id, type, data, priority, and no times.
  std::string v1 = "FUP1";
  auto u32 = [&](uint32_t x) {
    for (int i = 0; i < 4; ++i)
      v1.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
  };
  auto text = [&](std::string_view x) {
    u32(static_cast<uint32_t>(x.size()));
    v1.append(x);
  };
  for (int i = 0; i < 2; ++i) {
    text("old" + std::to_string(i));
    text("echo");
    text("{}");
    u32(static_cast<uint32_t>(i));
  }
  auto back = decoded(v1);
  REQUIRE(back.size() == 2);
  CHECK(back[1].id == "old1");
  CHECK(back[1].priority == 1);
  CHECK(back[1].run_at == 0);
  store_fixture f;
  REQUIRE_FALSE(in_transaction(*f.store, [&] { return f.store->open_upload("u", 1); }));
  REQUIRE(in_transaction(*f.store, [&] { return f.store->stage_chunk("u", encode_upload_chunk(numbered(0, 2))); }));
  auto db = sqlite::database::open(f.path, false);
  REQUIRE(db);
  auto st = db->prepare("UPDATE upload_parts SET body = ?1 WHERE upload_id = 'u'");
  REQUIRE(st);
  st->rebind(sqlite::blob_view{v1});
  REQUIRE_FALSE(st->run());
  REQUIRE(in_transaction(*f.store, [&] { return f.store->seal_upload("u", "B", 5); }));
  CHECK(query_db_int(f.path, "SELECT count(*) FROM tasks WHERE batch_id = 'B' AND state = 'pending'"
                             " AND task_id LIKE 'old%' AND not_before = 5") == 2);
}

TEST_CASE("a part staged before task policies (FUP2, without extensions) is still read") {
  auto tasks = numbered(0, 2);
  tasks[1].delay_ms = 7;
  // FUP3 without extensions is FUP2 with a zero count after each task.
  auto v3 = encode_upload_chunk(tasks).at(0).body;
  std::string v2 = "FUP2";
  size_t pos = 4;
  for (const auto& t : tasks) {
    auto size = 4 + t.id.size() + 4 + t.type.size() + 4 + t.data.size() + 4 + 16;
    v2 += v3.substr(pos, size);
    REQUIRE(v3.substr(pos + size, 4) == std::string(4, '\0'));
    pos += size + 4;
  }
  CHECK(same(decoded(v2), tasks));
}

TEST_CASE("a staged chunk damaged in the file fails the seal and changes nothing") {
  struct damage {
    const char* body; // SQL for the part's new body
    const char* why;  // what the error says
  };
  // Three tasks of 49 bytes each: cut 3 bytes and the last task is torn, cut 49 and the part
  // holds one task fewer than its row says (the batch's total would not match its tasks).
  std::vector<damage> cases{
    {"substr(body, 1, length(body) - 3)", "its body ends inside a task"},
    {"substr(body, 1, length(body) - 49)", "the part at position 0 holds 2 tasks instead of 3"},
    {"x'00010203'", "does not start as one"},
    {"42", "its body is not binary"},
    {"'[[\"t0\", \"echo\", \"{}\", 0]]'", "its body is not binary"}, // text, as JSON once was
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    store_fixture f;
    REQUIRE_FALSE(in_transaction(*f.store, [&] { return f.store->open_upload("u", 1); }));
    REQUIRE(in_transaction(*f.store, [&] { return f.store->stage_chunk("u", encode_upload_chunk(numbered(0, 3))); }));
    auto db = sqlite::database::open(f.path, false);
    REQUIRE(db);
    REQUIRE_FALSE(db->exec(fmt::format("UPDATE upload_parts SET body = {} WHERE upload_id = 'u'", c.body)));
    auto sealed = in_transaction(*f.store, [&] { return f.store->seal_upload("u", "B", 5); });
    REQUIRE_FALSE(sealed);
    CHECK(sealed.error() == errc::database_error);
    auto text = error_text(sealed.error());
    CHECK_MESSAGE(text.find("a staged upload part is damaged") != std::string::npos, text);
    CHECK_MESSAGE(text.find(c.why) != std::string::npos, text);
    CHECK(query_db_int(f.path, "SELECT count(*) FROM tasks") == 0);
    CHECK(query_db_int(f.path, "SELECT count(*) FROM batches") == 0);
    CHECK(query_db_int(f.path, "SELECT count(*) FROM upload_parts") == 1);
  }
}

TEST_CASE("the seal reads each part through the primary key and finds repeats through the id index") {
  store_fixture f;
  auto move = query_plan(f.path, sql::move_part);
  CHECK(move.find("SEARCH c USING INDEX sqlite_autoindex_upload_parts_1 (upload_id=? AND first=?)")
        != std::string::npos);
  auto dup = query_plan(f.path, sql::staged_duplicate);
  CHECK(dup.find("SEARCH c USING INDEX sqlite_autoindex_upload_parts_1 (upload_id=? AND first=?)")
        != std::string::npos);
  CHECK(dup.find("USING COVERING INDEX sqlite_autoindex_tasks_1") != std::string::npos);
}

