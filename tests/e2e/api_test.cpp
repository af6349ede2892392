// fleetd's HTTP JSON API /api/v1 (issue 19), end to end: its OpenAPI document against the routes
// it answers, bearer tokens and scopes, who did what in the audit trail, HTTPS, and a user's
// script in Python's standard library (tests/e2e/api_client.py) and curl.

#include "fleetd_process.hpp"

#include "web/api_v1.hpp"

#include <httplib.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <tuple>
#include <sys/stat.h>

using namespace fleet::test;
using json = nlohmann::json;

namespace {

constexpr const char* write_token = "w-0123456789abcdef0123456789abcdef";
constexpr const char* read_token = "r-fedcba9876543210fedcba9876543210";

/// fleetd with its HTTP port and a tokens file (ci: write, dashboard: read).
struct api_fleetd {
  explicit api_fleetd(const std::string& extra = {}, bool tokens = true)
    : http_port(free_port()), d(config(extra, tokens)) {}

  std::string config(const std::string& extra, bool tokens) {
    std::string text = "http-port=" + std::to_string(http_port) + "\nhttp-max-body=1\n";
    if (tokens) {
      write_file(dir.file("tokens"), std::string{"# name token scope\nci "} + write_token + " write\ndashboard "
                                       + read_token + " read\n");
      ::chmod(dir.file("tokens").c_str(), 0600);
      text += "http-tokens-file=\"" + dir.file("tokens") + "\"\n";
    }
    return text + extra; // last: it may open sections of its own
  }

  httplib::Client client() const {
    httplib::Client c{"127.0.0.1", http_port};
    c.set_read_timeout(std::chrono::seconds(30));
    return c;
  }

  std::string url(const std::string& path = {}) const {
    return "http://127.0.0.1:" + std::to_string(http_port) + path;
  }

  /// curl with the given arguments: its status line's code and body (-w appends the code).
  std::pair<int, std::string> curl(std::vector<std::string> args) const {
    std::vector<std::string> argv{"curl", "-sS", "-w", "\n%{http_code}"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto cut = r.out.rfind('\n');
    return {std::stoi(r.out.substr(cut + 1)), r.out.substr(0, cut)};
  }

  temp_dir dir;
  uint16_t http_port;
  fleetd_process d;
};

std::string bearer(const char* token) {
  return std::string{"Authorization: Bearer "} + token;
}

std::string error_code(const std::string& body) {
  return json::parse(body)["error"]["code"].get<std::string>();
}

} // namespace

TEST_CASE("the OpenAPI document lists exactly the routes /api/v1 answers, and each answers") {
  std::ifstream in{FLEET_SOURCE_DIR "/web/openapi.json"};
  REQUIRE(in);
  auto doc = json::parse(in);
  CHECK(doc["openapi"] == "3.1.0");
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, item] : doc["paths"].items())
    for (const auto& [method, op] : item.items()) {
      documented.insert({method, path});
      CHECK_MESSAGE(op.contains("responses"), path);
    }
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& r : fleet::api_v1_routes())
    served.insert({r.method, r.path});
  CHECK(documented == served);

  api_fleetd f;
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  auto c = f.client();
  httplib::Headers auth{{"Authorization", std::string{"Bearer "} + write_token}};
  auto served_doc = c.Get("/api/v1/openapi.json");
  REQUIRE(served_doc);
  CHECK(served_doc->status == 200);
  CHECK(json::parse(served_doc->body) == doc);
  // Every documented route is answered by its own handler: never the catch-all "no route".
  for (const auto& [method, path] : documented) {
    auto concrete = std::regex_replace(std::regex_replace(path, std::regex{"\\{id\\}"}, "batch-nope"),
                                       std::regex{"\\{name\\}"}, "schedule-nope");
    httplib::Request req;
    req.method = method;
    std::transform(req.method.begin(), req.method.end(), req.method.begin(), ::toupper);
    req.path = concrete;
    req.headers = auth;
    if (req.method != "GET") {
      req.body = "{}";
      req.set_header("Content-Type", "application/json");
    }
    auto res = c.send(req);
    REQUIRE(res);
    CAPTURE(method);
    CAPTURE(concrete);
    CAPTURE(res->body);
    if (res->status != 200)
      CHECK(error_code(res->body) != "not_found");
  }
  auto unknown = c.Get("/api/v1/nothing", auth);
  CHECK(unknown->status == 404);
  CHECK(error_code(unknown->body) == "not_found");
}

TEST_CASE("API tokens with curl: none, wrong, read for a write, then a write, recorded as who did what") {
  api_fleetd f;
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  auto body = R"({"tasks": [{"id": "a", "type": "echo", "data": {"x": 1}}]})";
  auto submit = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(f.url("/api/v1/batches"));
    return f.curl(args);
  };
  auto none = submit({});
  CHECK(none.first == 401);
  CHECK(error_code(none.second) == "unauthorized");
  auto wrong = submit({"-H", "Authorization: Bearer w-0123456789abcdef0123456789abcdeX"});
  CHECK(wrong.first == 401);
  auto basic = submit({"-u", "ci:secret"});
  CHECK(basic.first == 401);
  auto read_only = submit({"-H", bearer(read_token)});
  CHECK(read_only.first == 403);
  CHECK(error_code(read_only.second) == "forbidden");
  CHECK(f.d.query_int("SELECT count(*) FROM batches") == 0);
  CHECK(f.curl({"-H", bearer(read_token), f.url("/api/v1/stats")}).first == 200);
  CHECK(f.curl({f.url("/api/v1/stats")}).first == 401);

  auto made = submit({"-H", bearer(write_token)});
  REQUIRE(made.first == 201);
  auto batch = json::parse(made.second)["batch_id"].get<std::string>();
  auto cancel = f.curl({"-X", "POST", "-H", bearer(write_token), f.url("/api/v1/batches/" + batch + "/cancel")});
  CHECK(cancel.first == 200);
  CHECK(f.d.query_int("SELECT count(*) FROM batches") == 1);
  // Who did what: each change is an api_request event naming the token, never the token itself.
  CHECK(f.d.query_int("SELECT count(*) FROM events WHERE kind = 'api_request' AND batch_id = '" + batch
                      + "' AND json_extract(detail, '$.token') = 'ci' AND json_extract(detail, '$.scope') = 'write'")
        == 2);
  CHECK(f.d.query_int("SELECT count(*) FROM events WHERE json_extract(detail, '$.action') = 'submit'"
                      " AND json_extract(detail, '$.status') = 201")
        == 1);
  // The change's own events name the token and the peer too (requested_by), as a CAF client's do.
  CHECK_MESSAGE(f.d.query_int("SELECT count(*) FROM events WHERE kind = 'batch_submitted' AND batch_id = '" + batch
                              + "' AND json_extract(requested_by, '$.http_token') = 'ci'"
                                " AND json_extract(requested_by, '$.http_peer') LIKE '127.0.0.1:%'"
                                " AND json_extract(requested_by, '$.local') = 1") == 1,
                f.d.query_text("SELECT group_concat(kind || ' ' || ifnull(requested_by, '-'), '; ') FROM events"));
  CHECK(f.d.query_int("SELECT count(*) FROM events WHERE detail LIKE '%" + std::string{write_token} + "%'") == 0);
  CHECK(f.d.count_in_log(write_token) == 0);
  // Refusals change nothing and write no event.
  CHECK(f.d.query_int("SELECT count(*) FROM events WHERE kind = 'api_request'") == 2);
}

TEST_CASE("a user's Python script (standard library only) drives the API, including bad input and a vanished client") {
  api_fleetd f;
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  auto r = run({"python3", FLEET_SOURCE_DIR "/tests/e2e/api_client.py", f.url(), write_token, read_token});
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err + f.d.log()));
  CHECK(r.out.find("all checks passed") != std::string::npos);
  CHECK(f.d.alive());
}

TEST_CASE("without a tokens file the API reads on loopback and refuses every change") {
  api_fleetd f{"", false};
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  CHECK(f.curl({f.url("/api/v1/stats")}).first == 200);
  auto refused = f.curl({"-X", "POST", "-H", "Content-Type: application/json", "--data-binary",
                         R"({"tasks": [{"type": "echo"}]})", f.url("/api/v1/batches")});
  CHECK(refused.first == 403);
  CHECK(json::parse(refused.second)["error"]["message"].get<std::string>().find("fleet.http-tokens-file")
        != std::string::npos);
  CHECK(f.d.query_int("SELECT count(*) FROM batches") == 0);
}

TEST_CASE("HTTPS with tokens serves the API, the page and metrics, and a slow TLS client holds no thread") {
  temp_dir pki;
  auto made = run({FLEET_SOURCE_DIR "/scripts/make-certs.sh", pki.path().string(), "fleetd"});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  api_fleetd f{"http-tls-cert=\"" + pki.file("fleetd.pem") + "\"\nhttp-tls-key=\"" + pki.file("fleetd.key") + "\"\n"};
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  CHECK(f.d.count_in_log("https on 127.0.0.1:" + std::to_string(f.http_port)) == 1);
  auto https = "https://localhost:" + std::to_string(f.http_port);
  auto ca = pki.file("ca.pem");
  CHECK(f.curl({"--cacert", ca, "-H", bearer(read_token), https + "/api/v1/stats"}).first == 200);
  CHECK(f.curl({"--cacert", ca, https + "/healthz"}).first == 200);
  // Plain HTTP on the HTTPS port gets no answer, and fleetd goes on.
  auto plain = run({"curl", "-sS", "-m", "10", f.url("/healthz")});
  CHECK(plain.exit_code != 0);
  // Sockets that never finish a handshake hold no thread: the API still answers at once.
  std::vector<int> idle;
  for (int i = 0; i < 40; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(f.http_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    idle.push_back(fd);
  }
  auto r = run({"python3", FLEET_SOURCE_DIR "/tests/e2e/api_client.py", https, write_token, read_token, ca});
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err + f.d.log()));
  for (int fd : idle)
    ::close(fd);
  CHECK(f.d.alive());
}

TEST_CASE("HTTPS serves a renewed certificate without a restart, and keeps the last good one meanwhile") {
  temp_dir pki;
  auto script = std::string{FLEET_SOURCE_DIR} + "/scripts/make-certs.sh";
  auto made = run({script, pki.path().string(), "fleetd"});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  api_fleetd f{"http-tls-cert=\"" + pki.file("fleetd.pem") + "\"\nhttp-tls-key=\"" + pki.file("fleetd.key") + "\"\n"};
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  auto served = [&] {
    return run({"sh", "-c",
                "openssl s_client -connect 127.0.0.1:" + std::to_string(f.http_port)
                  + " -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial"})
      .out;
  };
  auto on_disk = [&] { return run({"openssl", "x509", "-noout", "-serial", "-in", pki.file("fleetd.pem")}).out; };
  auto first = served();
  REQUIRE(first.rfind("serial=", 0) == 0);
  // A new pair from the same CA, made aside; the key moves first, so for a moment the two files do
  // not belong together: the old certificate is still served, with a warning.
  auto renewed = pki.file("renewed");
  REQUIRE(run({"mkdir", renewed}).exit_code == 0);
  REQUIRE(run({"cp", pki.file("ca.pem"), pki.file("ca.key"), renewed}).exit_code == 0);
  REQUIRE(run({script, renewed, "fleetd"}).exit_code == 0);
  REQUIRE(run({"mv", renewed + "/fleetd.key", pki.file("fleetd.key")}).exit_code == 0);
  // The files are looked at on a handshake, once a second at most.
  REQUIRE(eventually([&] {
    return served() == first && f.d.count_in_log("does not load, still serving the one before") == 1;
  }));
  REQUIRE(run({"mv", renewed + "/fleetd.pem", pki.file("fleetd.pem")}).exit_code == 0);
  REQUIRE(eventually([&] { return served() == on_disk(); }));
  CHECK(served() != first);
  CHECK(f.d.count_in_log("serving the renewed certificate") == 1);
  auto https = "https://localhost:" + std::to_string(f.http_port);
  CHECK(f.curl({"--cacert", pki.file("ca.pem"), https + "/healthz"}).first == 200);
  CHECK(f.d.alive());
}

TEST_CASE("HTTP options that would expose the fleet are refused at start, each with what to do") {
  auto refused = [](const std::string& config, const std::string& expected) {
    temp_dir dir;
    auto path = dir.file("fleetd.ini");
    write_file(dir.file("tokens"), std::string{"ci "} + write_token + " write\n");
    ::chmod(dir.file("tokens").c_str(), 0644);
    write_file(dir.file("bad-tokens"), "ci short write\n");
    ::chmod(dir.file("bad-tokens").c_str(), 0600);
    write_file(path, "[fleet]\ndb=\"" + dir.file("fleet.db") + "\"\nport=0\nplaintext-loopback=true\nhttp-port=0\n"
                       + std::regex_replace(config, std::regex{"DIR"}, dir.path().string()));
    auto r = run({bin("fleetd"), "--config-file=" + path});
    CAPTURE(config);
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
    CHECK(r.err.find(write_token) == std::string::npos);
  };
  refused("http-host=\"0.0.0.0\"\n", "the HTTP port then needs HTTPS and tokens");
  refused("http-tokens-file=\"DIR/tokens\"\n", "may be read by every user of this machine: chmod o-r");
  refused("http-tokens-file=\"DIR/bad-tokens\"\n", "line 1: the token of ci has 5 characters");
  refused("http-tokens-file=\"DIR/none\"\n", "no such file");
  refused("http-tls-cert=\"DIR/none.pem\"\n", "fleet.http-tls-cert and fleet.http-tls-key go together");
  refused("http-max-body=0\n", "fleet.http-max-body must be between 1 and 4096");
}

TEST_CASE("delayed tasks through the API: run_at and delay_ms in JSON and JSON Lines, shown in the status") {
  api_fleetd f;
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  auto c = f.client();
  httplib::Headers auth{{"Authorization", std::string{"Bearer "} + write_token}};
  auto res = c.Post("/api/v1/batches", auth,
                    R"({"tasks": [{"id": "a", "type": "echo", "run_at": "2099-01-01T00:00:00Z"}]})",
                    "application/json");
  REQUIRE(res);
  CHECK(res->status == 422);
  CHECK(error_code(res->body) == "invalid_task");
  CHECK_MESSAGE(res->body.find("further away than fleet.max-delay") != std::string::npos, res->body);
  res = c.Post("/api/v1/batches", auth, R"({"tasks": [{"id": "a", "type": "echo", "run_at": "noon"}]})",
               "application/json");
  REQUIRE(res);
  CHECK(res->status / 100 == 4);
  CHECK(error_code(res->body) == "invalid_task");
  CHECK(f.d.query_int("SELECT count(*) FROM batches") == 0);

  res = c.Post("/api/v1/batches", auth,
               R"({"tasks": [{"id": "a", "type": "echo", "delay_ms": 3600000}, {"id": "b", "type": "echo"}]})",
               "application/json");
  REQUIRE(res);
  REQUIRE_MESSAGE(res->status == 201, res->body);
  auto batch = json::parse(res->body)["batch_id"].get<std::string>();
  REQUIRE(eventually([&] {
    auto st = c.Get("/api/v1/batches/" + batch, auth);
    return st && json::parse(st->body)["completed"] == 1;
  }));
  auto st = json::parse(c.Get("/api/v1/batches/" + batch, auth)->body);
  CHECK(st["scheduled"] == 1);
  CHECK(st["next_run_at"].get<int64_t>() >= st["created_at"].get<int64_t>() + 3'600'000);

  res = c.Post("/api/v1/batches", auth, "{\"type\": \"echo\", \"run_at\": 4102444800000}\n{\"type\": \"echo\", \"delay_ms\": 86400000}\n",
               "application/x-ndjson");
  REQUIRE(res);
  CHECK(res->status == 422); // 2100-01-01 is beyond fleet.max-delay
  res = c.Post("/api/v1/batches", auth, "{\"type\": \"echo\", \"delay_ms\": 86400000}\n{\"type\": \"echo\", \"delay_ms\": 5}\n",
               "application/x-ndjson");
  REQUIRE(res);
  REQUIRE_MESSAGE(res->status == 201, res->body);
  auto lines = json::parse(res->body)["batch_id"].get<std::string>();
  REQUIRE(eventually([&] { return f.d.query_int("SELECT scheduled FROM batches WHERE id = '" + lines + "'") == 1; }));
  CHECK(json::parse(c.Get("/api/v1/stats", auth)->body)["scheduled_tasks"] == 2);
}

TEST_CASE("task policies through the API: per task and for the whole submit, bad ones refused with nothing stored") {
  api_fleetd f;
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  auto c = f.client();
  httplib::Headers auth{{"Authorization", std::string{"Bearer "} + write_token}};
  for (const auto& [body, expected] : std::vector<std::pair<std::string, std::string>>{
         {R"({"tasks": [{"type": "echo", "timeout_ms": 0}]})", "must be at least 1 (leave it out"},
         {R"({"tasks": [{"type": "echo", "max_retries": 2000}]})", "max_retries 2000 is out of range"},
         {R"({"tasks": [{"type": "echo"}], "policy": {"retry": "no"}})", "must be true or false"},
         {R"({"tasks": [{"type": "echo"}], "policy": {"timeout": 5}})", "unknown field \\\"timeout\\\" (a policy has"},
         {R"({"tasks": [{"type": "echo"}], "policy": [1]})", "a policy must be a JSON object"},
         {R"({"tasks": [{"type": "echo"}], "policy": {"retry": false, "max_retries": 1}})", "retry is false but"}}) {
    CAPTURE(body);
    auto res = c.Post("/api/v1/batches", auth, body, "application/json");
    REQUIRE(res);
    CHECK(res->status == 422);
    CHECK(error_code(res->body) == "invalid_task");
    CHECK_MESSAGE(res->body.find(expected) != std::string::npos, res->body);
  }
  CHECK(f.d.query_int("SELECT count(*) FROM batches") == 0);

  auto res = c.Post("/api/v1/batches", auth,
                    R"({"tasks": [{"id": "a", "type": "fail"}, {"id": "b", "type": "fail", "max_retries": 1}],)"
                    R"( "policy": {"max_retries": 0, "timeout_ms": 9000, "backoff_ms": 0}})",
                    "application/json");
  REQUIRE(res);
  REQUIRE_MESSAGE(res->status == 201, res->body);
  auto batch = json::parse(res->body)["batch_id"].get<std::string>();
  REQUIRE(eventually([&] {
    auto st = c.Get("/api/v1/batches/" + batch, auth);
    return st && json::parse(st->body)["failed"] == 2;
  }));
  CHECK(f.d.query_int("SELECT attempts FROM tasks WHERE task_id = 'a'") == 1);
  CHECK(f.d.query_int("SELECT attempts FROM tasks WHERE task_id = 'b'") == 2);
  CHECK(f.d.query_int("SELECT count(*) FROM task_policies WHERE timeout_ms = 9000 AND backoff_ms = 0") == 2);
  res = c.Post("/api/v1/batches", auth, "{\"type\": \"echo\", \"timeout_ms\": 750}\n", "application/x-ndjson");
  REQUIRE(res);
  REQUIRE_MESSAGE(res->status == 201, res->body);
  CHECK(f.d.query_int("SELECT count(*) FROM task_policies WHERE timeout_ms = 750") == 1);
}

TEST_CASE("dependencies through the API: after in JSON and JSON Lines, the tasks page, a cycle refused") {
  api_fleetd f;
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  auto c = f.client();
  httplib::Headers auth{{"Authorization", std::string{"Bearer "} + write_token}};
  auto res = c.Post("/api/v1/batches", auth,
                    R"({"tasks": [{"id": "b", "type": "echo", "after": ["a"]}, {"id": "a", "type": "echo"}]})",
                    "application/json");
  REQUIRE(res);
  REQUIRE_MESSAGE(res->status == 201, res->body);
  auto batch = json::parse(res->body)["batch_id"].get<std::string>();
  REQUIRE(eventually([&] {
    auto st = c.Get("/api/v1/batches/" + batch, auth);
    return st && json::parse(st->body)["completed"] == 2;
  }));
  auto page = c.Get("/api/v1/batches/" + batch + "/tasks?limit=10", auth);
  REQUIRE(page);
  REQUIRE_MESSAGE(page->status == 200, page->body);
  auto tasks = json::parse(page->body);
  REQUIRE(tasks["tasks"].size() == 2);
  CHECK(tasks["tasks"][0]["task_id"] == "b");
  CHECK(tasks["tasks"][0]["after"] == json::array({"a"}));
  CHECK(tasks["tasks"][0]["state"] == "succeeded");
  CHECK(tasks["done"] == true);
  CHECK(c.Get("/api/v1/batches/no-such/tasks", auth)->status == 404);
  CHECK(c.Get("/api/v1/batches/" + batch + "/tasks?limit=0", auth)->status == 400);
  res = c.Post("/api/v1/batches", auth,
               "{\"id\": \"x\", \"type\": \"echo\", \"after\": [\"y\"]}\n"
               "{\"id\": \"y\", \"type\": \"echo\", \"after\": [\"x\"]}\n",
               "application/x-ndjson");
  REQUIRE(res);
  CHECK(res->status == 422);
  CHECK_MESSAGE(res->body.find("the dependencies form a cycle") != std::string::npos, res->body);
  res = c.Post("/api/v1/batches", auth, R"({"tasks": [{"type": "echo", "after": "a"}]})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 422);
  CHECK(f.d.query_int("SELECT count(*) FROM batches") == 1);
}

TEST_CASE("queues over the HTTP API: list, set with a write token, a task names its queue, bad input refused") {
  api_fleetd f{"[queue.mail]\nmax-workers=2\n"};
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  auto c = f.client();
  httplib::Headers auth{{"Authorization", std::string{"Bearer "} + write_token}};
  httplib::Headers reader{{"Authorization", std::string{"Bearer "} + read_token}};
  auto list = c.Get("/api/v1/queues", reader);
  REQUIRE(list);
  REQUIRE_MESSAGE(list->status == 200, list->body);
  auto queues = json::parse(list->body)["queues"];
  REQUIRE(queues.size() == 2);
  CHECK(queues[0]["name"] == "default");
  CHECK(queues[1]["name"] == "mail");
  CHECK(queues[1]["max_workers"] == 2);
  CHECK(queues[1]["declared"] == true);
  CHECK(c.Patch("/api/v1/queues/mail", reader, R"({"weight": 3})", "application/json")->status == 403);
  auto set = c.Patch("/api/v1/queues/mail", auth, R"({"weight": 3, "rate": "10/1s", "paused": false})",
                     "application/json");
  REQUIRE(set);
  REQUIRE_MESSAGE(set->status == 200, set->body);
  CHECK(json::parse(set->body)["weight"] == 3);
  CHECK(json::parse(set->body)["rate"] == "10/1s");
  for (auto bad : {R"({"weight": 0})", R"({"rate": "fast"})", R"({"max_workers": -1})", R"({"speed": 1})",
                   R"({"weight": "3x"})", R"([1])", "{", R"({})"}) {
    CAPTURE(bad);
    auto res = c.Patch("/api/v1/queues/mail", auth, bad, "application/json");
    REQUIRE(res);
    CHECK(res->status == 400);
  }
  CHECK(c.Patch("/api/v1/queues/no%20way", auth, R"({"weight": 2})", "application/json")->status == 400);
  CHECK(f.d.query_int("SELECT count(*) FROM events WHERE kind = 'queue_changed'") == 1);
  auto res = c.Post("/api/v1/batches", auth,
                    R"({"tasks": [{"id": "m", "type": "echo", "queue": "mail", "group": "c-1"}]})", "application/json");
  REQUIRE(res);
  REQUIRE_MESSAGE(res->status == 201, res->body);
  CHECK(eventually([&] { return f.d.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 1; }));
  CHECK(f.d.query_text("SELECT queue || '/' || task_group FROM tasks") == "mail/c-1");
  res = c.Post("/api/v1/batches", auth, R"({"tasks": [{"type": "echo", "queue": "nope"}]})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 422);
  CHECK_MESSAGE(res->body.find("no queue is named") != std::string::npos, res->body);
  CHECK(f.d.query_int("SELECT count(*) FROM batches") == 1);
}

TEST_CASE("schedules over the HTTP API: add, list, replace, run, pause, resume, delete, with bad input refused") {
  api_fleetd f;
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  auto c = f.client();
  httplib::Headers w{{"Authorization", std::string{"Bearer "} + write_token}};
  httplib::Headers r{{"Authorization", std::string{"Bearer "} + read_token}};
  auto definition = json{{"name", "hourly"},
                         {"cron", "0 * * * *"},
                         {"tz", "America/New_York"},
                         {"tasks", json::array({json{{"id", "a"}, {"type", "echo"}, {"data", {{"x", 1}}}}})}};
  auto read_only = c.Post("/api/v1/schedules", r, definition.dump(), "application/json");
  REQUIRE(read_only);
  CHECK(read_only->status == 403);
  auto added = c.Post("/api/v1/schedules", w, definition.dump(), "application/json");
  REQUIRE(added);
  CHECK_MESSAGE(added->status == 201, added->body);
  auto x = json::parse(added->body);
  CHECK(x["name"] == "hourly");
  CHECK(x["tz"] == "America/New_York");
  CHECK(x["next_run_at"].get<int64_t>() % 3'600'000 == 0); // New York is a whole number of hours off UTC
  auto again = c.Post("/api/v1/schedules", w, definition.dump(), "application/json");
  CHECK(again->status == 409);
  CHECK(error_code(again->body) == "schedule_exists");
  auto listed = c.Get("/api/v1/schedules", r);
  REQUIRE(listed);
  CHECK(json::parse(listed->body)["schedules"].size() == 1);
  auto one = c.Get("/api/v1/schedules/hourly", r);
  CHECK(one->status == 200);
  CHECK(json::parse(one->body)["tasks"][0]["data"] == json{{"x", 1}});
  CHECK(c.Get("/api/v1/schedules/nope", r)->status == 404);

  auto replaced = c.Put("/api/v1/schedules/hourly", w,
                        json{{"every", "30m"}, {"tasks", json::array({json{{"type", "echo"}}})}}.dump(), "application/json");
  REQUIRE(replaced);
  CHECK_MESSAGE(replaced->status == 200, replaced->body);
  CHECK(json::parse(replaced->body)["every_ms"] == 1'800'000);
  auto run = c.Post("/api/v1/schedules/hourly/run", w, "", "application/json");
  REQUIRE(run);
  CHECK_MESSAGE(run->status == 201, run->body);
  auto batch = json::parse(run->body)["batch_id"].get<std::string>();
  CHECK(c.Get("/api/v1/batches/" + batch, r)->status == 200);
  auto paused = c.Post("/api/v1/schedules/hourly/pause", w, "", "application/json");
  CHECK(json::parse(paused->body)["changed"] == true);
  CHECK(json::parse(c.Get("/api/v1/schedules/hourly", r)->body)["paused"] == true);
  CHECK(json::parse(c.Post("/api/v1/schedules/hourly/resume", w, "", "application/json")->body)["changed"] == true);
  CHECK(c.Delete("/api/v1/schedules/hourly", w)->status == 200);
  CHECK(c.Delete("/api/v1/schedules/hourly", w)->status == 404);

  for (const auto& [body, status, code] : std::vector<std::tuple<std::string, int, std::string>>{
         {R"({"name": "x", "cron": "61 * * * *", "tasks": [{"type": "echo"}]})", 400, "invalid_argument"},
         {R"({"name": "x", "cron": "0 3 * * *", "tz": "../../etc/passwd", "tasks": [{"type": "echo"}]})", 400, "invalid_argument"},
         {R"({"name": "x", "every": "1m", "tasks": [{"type": "nope"}]})", 422, "unknown_task_type"},
         {R"({"name": "x", "every": "1m"})", 400, "invalid_argument"},
         {R"({"name": "x", "every": "1m", "tasks": [], "colour": 1})", 400, "invalid_argument"},
         {R"({"name": "x", "every": "1m", "tasks": [{"type": "echo", "run_at": 1}]})", 400, "invalid_argument"},
         {R"([1, 2])", 400, "bad_request"},
         {"{\"name\": \"\xff\", \"every\": \"1m\", \"tasks\": [{\"type\": \"echo\"}]}", 400, "bad_request"},
       }) {
    CAPTURE(body);
    auto res = c.Post("/api/v1/schedules", w, body, "application/json");
    REQUIRE(res);
    CHECK(res->status == status);
    CHECK(error_code(res->body) == code);
  }
  CHECK(f.d.query_int("SELECT count(*) FROM schedules") == 0);
  // Who did what: every change is an api_request event naming the token.
  CHECK(f.d.query_int("SELECT count(*) FROM events WHERE kind = 'api_request' AND json_extract(detail, '$.token') = 'ci'"
                      " AND json_extract(detail, '$.action') LIKE '%schedule'") == 6);
}
