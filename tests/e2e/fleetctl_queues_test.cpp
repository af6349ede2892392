// fleetctl queues and queue set against a real fleetd, with a config file that declares a queue.
#include "fleetd_process.hpp"

#include <nlohmann/json.hpp>

using namespace fleet::test;

TEST_CASE("fleetctl queues and queue set, submit --queue and --group, a [queue.NAME] section, bad input refused") {
  fleetd_process d{"max-workers=4\n[queue.reports]\nmax-workers=1\ngroup-max-workers=1\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto r = d.ctl({"queues"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("QUEUE") == 0);
  CHECK(r.out.find("\nreports ") != std::string::npos);
  r = d.ctl({"queue", "set", "mail", "max-workers=2", "rate=100/1s", "weight=3"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("100/1s") != std::string::npos);
  r = d.ctl({"--json", "queues"});
  REQUIRE(r.exit_code == 0);
  auto doc = nlohmann::json::parse(r.out);
  REQUIRE(doc.size() == 3);
  CHECK(doc[2]["name"] == "mail");
  CHECK(doc[2]["weight"] == 3);
  CHECK(doc[2]["declared"] == false);
  CHECK(d.query_int("SELECT max_workers FROM queues WHERE name = 'mail'") == 2);
  for (auto bad : std::vector<std::vector<std::string>>{{"queue", "set", "mail", "weight=0"},
                                                       {"queue", "set", "mail", "rate=lots"},
                                                       {"queue", "set", "mail", "max-workers=-2"},
                                                       {"queue", "set", "mail", "colour=blue"},
                                                       {"queue", "set", "mail", "weight"},
                                                       {"queue", "set", "bad name", "weight=2"},
                                                       {"queue", "drop", "mail", "weight=2"}}) {
    CAPTURE(bad.back());
    r = d.ctl(bad);
    CHECK(r.exit_code == 2);
    CHECK_FALSE(r.err.empty());
  }
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'queue_changed'") == 1);
  auto file = d.file("tenants.jsonl");
  write_file(file, "{\"id\":\"a1\",\"type\":\"echo\",\"group\":\"a\"}\n{\"id\":\"a2\",\"type\":\"echo\"}\n"
                   "{\"id\":\"m1\",\"type\":\"echo\",\"queue\":\"mail\"}\n");
  r = d.ctl({"submit", "--wait", "--queue", "reports", "--group", "b", file});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(d.query_text("SELECT group_concat(task_id || ':' || queue || ':' || task_group, ' ')"
                     " FROM (SELECT * FROM tasks ORDER BY seq)")
        == "a1:reports:a a2:reports:b m1:mail:b");
  r = d.ctl({"submit", "--queue", "nope", file});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no queue is named \"nope\"") != std::string::npos); // a1 and a2 name none
  write_file(file, "{\"id\":\"x\",\"type\":\"echo\",\"queue\":\"nope\"}\n");
  r = d.ctl({"submit", file});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no queue is named \"nope\"") != std::string::npos);
  r = d.ctl({"submit", "--queue", "-x", file});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--queue") != std::string::npos);
  r = d.ctl({"stats", "--queue", "mail"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("belong to submit") != std::string::npos);
  CHECK(d.query_int("SELECT count(*) FROM batches") == 1);
}
