// fleetd's HTTP side (issue 7), end to end: Prometheus metrics, the JSON API and its guards, bad
// HTTP options, and the status page itself in headless Chromium driven through ChromeDriver
// (Debian's chromium and chromium-driver, installed by scripts/test.sh).

#include "fleetd_process.hpp"

#include <httplib.h>

#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

using namespace fleet::test;
using json = nlohmann::json;

namespace {

/// fleetd with its HTTP port on a free loopback port.
struct http_fleetd {
  explicit http_fleetd(const std::string& extra = {})
    : http_port(free_port()), d("http-port=" + std::to_string(http_port) + "\n" + extra) {}

  httplib::Client client() const {
    httplib::Client c{"127.0.0.1", http_port};
    c.set_read_timeout(std::chrono::seconds(30));
    return c;
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(http_port) + path;
  }

  uint16_t http_port;
  fleetd_process d;
};

std::map<std::string, std::string> metric_samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#')
      out[line.substr(0, line.rfind(' '))] = line.substr(line.rfind(' ') + 1);
  return out;
}

std::string write_tasks(const fleetd_process& d, const std::string& name, int n, const std::string& type,
                        const std::string& data) {
  auto path = d.file(name);
  std::string text;
  for (int i = 0; i < n; ++i)
    text += R"({"id": "t)" + std::to_string(i) + R"(", "type": ")" + type + R"(", "data": )" + data + "}\n";
  write_file(path, text);
  return path;
}

/// Headless Chromium through ChromeDriver's W3C WebDriver protocol (plain HTTP and JSON).
class browser {
public:
  browser() : port_(free_port()), profile_(dir_.file("profile")) {
    REQUIRE_MESSAGE(std::filesystem::exists(driver_path),
                    "the browser test needs Debian's chromium and chromium-driver: scripts/test.sh installs them");
    driver_.launch({driver_path, "--port=" + std::to_string(port_)}, dir_.file("chromedriver.log"));
    REQUIRE_MESSAGE(eventually([&] {
                      auto r = client().Get("/status");
                      return r && r->status == 200 && json::parse(r->body)["value"].value("ready", false);
                    }, 60),
                    read_file(dir_.file("chromedriver.log")));
    json caps{{"capabilities",
               {{"alwaysMatch",
                 {{"browserName", "chrome"},
                  {"goog:chromeOptions",
                   {{"binary", "/usr/bin/chromium"},
                    {"args", {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                              "--user-data-dir=" + profile_, "--window-size=1280,900"}}}}}}}}};
    auto r = post("/session", caps);
    session_ = r["sessionId"].get<std::string>();
  }

  ~browser() {
    if (!session_.empty())
      client().Delete("/session/" + session_);
  }

  void open(const std::string& url) { post("/session/" + session_ + "/url", {{"url", url}}); }

  /// A PNG of the element `css` selects, base64 as WebDriver sends it.
  std::string screenshot(const std::string& css) {
    auto found = post("/session/" + session_ + "/element", {{"using", "css selector"}, {"value", css}});
    auto element = found.begin().value().get<std::string>();
    auto r = client().Get(("/session/" + session_ + "/element/" + element + "/screenshot").c_str());
    REQUIRE(r);
    REQUIRE_MESSAGE(r->status == 200, r->body);
    return json::parse(r->body)["value"].get<std::string>();
  }

  /// Runs `script` in the page (a function body): what it returns.
  json run(const std::string& script) {
    return post("/session/" + session_ + "/execute/sync", {{"script", script}, {"args", json::array()}});
  }

private:
  static constexpr const char* driver_path = "/usr/bin/chromedriver";

  httplib::Client client() {
    httplib::Client c{"127.0.0.1", port_};
    c.set_read_timeout(std::chrono::seconds(60));
    return c;
  }

  json post(const std::string& path, const json& body) {
    auto r = client().Post(path.c_str(), body.dump(), "application/json");
    REQUIRE_MESSAGE(r, "no answer from chromedriver for ", path);
    auto reply = json::parse(r->body);
    REQUIRE_MESSAGE(r->status == 200, path, ": ", r->body);
    return reply["value"];
  }

  temp_dir dir_;
  uint16_t port_;
  std::string profile_;
  std::string session_;
  logged_process driver_; // after dir_: stopped before the directory goes
};

/// The page's row of one batch: {progress, status, label}, or null while the page does not show it.
json batch_row(browser& b, const std::string& id) {
  return b.run("const row = document.querySelector('tr[data-batch-id=\"" + id + "\"]');"
               "if (!row) return null;"
               "return {progress: row.dataset.progress, status: row.dataset.status,"
               "        label: row.querySelector('.bar .label').textContent};");
}

} // namespace

TEST_CASE("GET /metrics counts a finished batch in Prometheus text format") {
  http_fleetd f;
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  CHECK(f.d.count_in_log("http on 127.0.0.1:" + std::to_string(f.http_port)) == 1);
  auto id = f.d.submit(write_tasks(f.d, "echo.jsonl", 20, "echo", "{}"));
  REQUIRE(f.d.ctl({"wait", id}).exit_code == 0);
  auto r = f.client().Get("/metrics");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
  auto m = metric_samples(r->body);
  CHECK(m.at("fleetd_batches_submitted_total") == "1");
  CHECK(m.at("fleetd_tasks_submitted_total") == "20");
  CHECK(m.at("fleetd_tasks_succeeded_total") == "20");
  CHECK(m.at("fleetd_tasks_failed_total") == "0");
  CHECK(m.at("fleetd_tasks_pending") == "0");
  CHECK(m.at("fleetd_tasks_running") == "0");
  CHECK(m.at("fleetd_workers_limit") == "10");
  CHECK(m.at("fleetd_attempt_duration_seconds_count") == "20");
  CHECK(m.at("fleetd_queue_wait_seconds_count") == "20");
  CHECK(std::stoi(m.at("fleetd_sqlite_commit_seconds_count")) > 0);
  CHECK(m.at("fleetd_storage_writable") == "1");
  CHECK(m.at("fleetd_manager_up") == "1");
  // Per queue, labelled.
  CHECK(m.at("fleetd_queue_started_total{queue=\"default\"}") == "20");
  CHECK(m.at("fleetd_queue_running{queue=\"default\"}") == "0");
  CHECK(m.at("fleetd_queue_pending{queue=\"default\"}") == "0");
  CHECK(f.client().Get("/healthz")->body == "ok\n");
}

TEST_CASE("the HTTP API answers only to its own host names, refuses bad input, and is read-only by default") {
  http_fleetd f;
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  f.d.ctl({"pause", "--fleet"});
  auto id = f.d.submit(write_tasks(f.d, "echo.jsonl", 3, "echo", "{}"));
  auto c = f.client();

  auto page = c.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->body.find("<script src=\"/status.js\"") != std::string::npos);
  CHECK(page->get_header_value("Content-Security-Policy").find("default-src 'self'") != std::string::npos);
  CHECK(page->get_header_value("X-Frame-Options") == "DENY");
  CHECK(c.Get("/status.js")->status == 200);
  CHECK(c.Get("/nothing-here")->status == 404);

  auto ov = c.Get("/api/overview?batches=5");
  REQUIRE(ov);
  REQUIRE(ov->status == 200);
  auto body = json::parse(ov->body);
  CHECK(body["actions"] == false);
  REQUIRE(body["batches"].size() == 1);
  CHECK(body["batches"][0]["batch_id"] == id);
  CHECK(body["stats"]["paused"] == true);
  REQUIRE(body["queues"].size() == 1);
  CHECK(body["queues"][0]["name"] == "default");
  CHECK(body["queues"][0]["pending"] == 3);
  CHECK(c.Get("/api/overview?batches=abc")->status == 400);
  CHECK(c.Get("/api/overview?failures=5000")->status == 400);
  CHECK(json::parse(c.Get(("/api/batches/" + id).c_str())->body)["total"] == 3);
  auto tasks_page = c.Get(("/api/batches/" + id + "/tasks?limit=2").c_str());
  REQUIRE(tasks_page);
  CHECK(tasks_page->status == 200);
  auto page_body = json::parse(tasks_page->body);
  CHECK(page_body["tasks"].size() == 2);
  CHECK(page_body["tasks"][0]["task_id"] == "t0");
  CHECK(page_body["done"] == false);
  auto rest = json::parse(c.Get(("/api/batches/" + id + "/tasks?cursor=" + std::to_string(page_body["next_cursor"].get<int64_t>())).c_str())->body);
  CHECK(rest["tasks"].size() == 1);
  CHECK(rest["tasks"][0]["task_id"] == "t2");
  CHECK(rest["done"] == true);
  CHECK(c.Get("/api/batches/batch-nope/tasks")->status == 404);
  CHECK(c.Get(("/api/batches/" + id + "/tasks?limit=0").c_str())->status == 400);
  CHECK(c.Get(("/batches/" + id).c_str())->body.find("/batch.js") != std::string::npos);
  auto unknown = c.Get("/api/batches/batch-nope");
  CHECK(unknown->status == 404);
  CHECK(json::parse(unknown->body)["error"].get<std::string>().find("batch-nope") != std::string::npos);

  // DNS rebinding: a page from elsewhere whose name resolves to 127.0.0.1 sends its own Host.
  auto foreign = c.Get("/api/overview", {{"Host", "attacker.example"}});
  REQUIRE(foreign);
  CHECK(foreign->status == 421);
  CHECK(c.Get("/api/overview", {{"Host", "localhost:" + std::to_string(f.http_port)}})->status == 200);

  // Read-only: the actions are refused and change nothing.
  auto refused = c.Post(("/api/batches/" + id + "/cancel").c_str(), {{"X-Fleetd-Action", "1"}}, "", "text/plain");
  REQUIRE(refused);
  CHECK(refused->status == 403);
  CHECK(json::parse(refused->body)["error"].get<std::string>().find("fleet.http-actions=true") != std::string::npos);
  CHECK(f.d.ctl_json({"status", id})["status"] == "pending");
  CHECK(c.Post("/api/fleet/resume", {{"X-Fleetd-Action", "1"}}, "", "text/plain")->status == 403);
  CHECK(f.d.ctl_json({"stats"})["paused"] == true);
}

TEST_CASE("with http-actions on, an action needs its header, then cancels, pauses and resumes") {
  http_fleetd f{"http-actions=true\n"};
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  f.d.ctl({"pause", "--fleet"});
  auto id = f.d.submit(write_tasks(f.d, "echo.jsonl", 3, "echo", "{}"));
  auto c = f.client();
  // A cross-site form post carries no custom header.
  auto forged = c.Post(("/api/batches/" + id + "/cancel").c_str(), "", "application/x-www-form-urlencoded");
  CHECK(forged->status == 403);
  CHECK(f.d.ctl_json({"status", id})["status"] == "pending");
  auto pause = c.Post(("/api/batches/" + id + "/pause").c_str(), {{"X-Fleetd-Action", "1"}}, "", "text/plain");
  CHECK(pause->status == 200);
  CHECK(json::parse(pause->body)["changed"] == true);
  CHECK(f.d.ctl_json({"status", id})["paused"] == true);
  auto cancel = c.Post(("/api/batches/" + id + "/cancel").c_str(), {{"X-Fleetd-Action", "1"}}, "", "text/plain");
  CHECK(json::parse(cancel->body)["changed"] == true);
  CHECK(f.d.ctl_json({"status", id})["status"] == "cancelled");
  auto resume = c.Post("/api/fleet/resume", {{"X-Fleetd-Action", "1"}}, "", "text/plain");
  CHECK(json::parse(resume->body)["changed"] == true);
  CHECK(f.d.ctl_json({"stats"})["paused"] == false);
  CHECK(f.d.count_in_log("http: cancel batch " + id) == 1);
}

TEST_CASE("bad HTTP options are refused: port range, actions off loopback, a port in use") {
  auto refused = [](const std::string& config, const std::string& expected, int code) {
    temp_dir dir;
    auto path = dir.file("fleetd.ini");
    write_file(path, "[fleet]\ndb=\"" + dir.file("fleet.db") + "\"\nport=0\nplaintext-loopback=true\n" + config);
    auto r = run({bin("fleetd"), "--config-file=" + path});
    CAPTURE(config);
    CHECK(r.exit_code == code);
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
  };
  refused("http-port=70000\n", "fleet.http-port must be between -1 and 65535 (got 70000)", 2);
  refused("http-port=0\nhttp-host=\"\"\n", "fleet.http-host must name an address", 2);
  refused("http-port=0\nhttp-host=\"0.0.0.0\"\nhttp-actions=true\n",
          "fleet.http-actions needs a loopback fleet.http-host (got 0.0.0.0)", 2);
  refused("http-actions=\"maybe\"\n", "fleet.http-actions must be true or false", 2);
  http_fleetd taken;
  REQUIRE_MESSAGE(taken.d.start(), taken.d.log());
  refused("http-port=" + std::to_string(taken.http_port) + "\n",
          "cannot listen for HTTP on 127.0.0.1:" + std::to_string(taken.http_port), 1);
}

TEST_CASE("the status page in headless Chromium shows a submitted batch and its progress reaching 100%") {
  http_fleetd f;
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  // Paused first: the page must see the batch at 0% before a single task has run.
  f.d.ctl({"pause", "--fleet"});
  auto id = f.d.submit(write_tasks(f.d, "sleepy.jsonl", 12, "sleep", R"({"ms": 150})"));
  browser b;
  b.open(f.url("/?refresh=200"));
  json row;
  REQUIRE_MESSAGE(eventually([&] { return !(row = batch_row(b, id)).is_null(); }, 60), "the page never showed ", id);
  CHECK(row["progress"] == "0");
  CHECK(row["label"] == "0%");
  CHECK(row["status"] == "pending");
  CHECK(b.run("return document.getElementById('connection').dataset.state;") == "ok");
  // Marks this page: if the last check still finds the mark, the page refreshed itself, live.
  b.run("window.fleetdTestMark = 42; return null;");
  f.d.ctl({"resume", "--fleet"});
  REQUIRE_MESSAGE(eventually([&] { row = batch_row(b, id); return row["progress"] == "1"; }, 120),
                  "last row seen: ", row.dump());
  CHECK(row["label"] == "100%");
  CHECK(row["status"] == "completed");
  CHECK(b.run("return window.fleetdTestMark;") == 42);
  CHECK(b.run("return document.querySelector('[data-stat=\"completed\"] dd').textContent;") == "12");
  // Read-only: no action buttons on the page.
  CHECK(b.run("return document.getElementById('fleet-actions').hidden;") == true);
  CHECK(b.run("return document.querySelectorAll('tr[data-batch-id] button').length;") == 0);
  CHECK(f.d.ctl_json({"status", id})["completed"] == 12);
}

TEST_CASE("the page's throughput chart draws points, and a batch's page shows its tasks and attempts as text and replays a failure") {
  http_fleetd f{"http-actions=true\nmax-retries=0\n"};
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  browser b;
  b.open(f.url("/?refresh=300"));
  REQUIRE(eventually([&] { return b.run("return document.getElementById('connection').dataset.state;") == "ok"; }, 60));
  auto blank = b.screenshot("#rate-chart");
  // Work for the chart: a few seconds of tasks, one failing for good, and text that must stay text.
  auto tasks = f.d.file("mixed.jsonl");
  std::string lines;
  for (int i = 0; i < 40; ++i)
    lines += R"({"id": "s)" + std::to_string(i) + R"(", "type": "sleep", "data": {"ms": 100}})" "\n";
  lines += R"({"id": "<img src=x onerror=alert(1)>", "type": "echo", "data": {"html": "<b>bold</b>"}})" "\n";
  lines += R"({"id": "bad", "type": "fail"})" "\n";
  write_file(tasks, lines);
  auto id = f.d.submit(tasks);
  f.d.ctl({"wait", id});
  // A point above the baseline in the succeeded series: the chart drew what happened.
  auto drawn = [&] {
    return b.run("const pts = document.querySelector('#rate-chart polyline[data-series=\"succeeded\"]')"
                 "  .getAttribute('points').trim().split(' ').filter(p => p);"
                 "return {n: pts.length, up: pts.some(p => Number(p.split(',')[1]) < 150)};");
  };
  json points;
  // On a fast machine the whole batch can end within one second of the history: one point, which
  // a polyline does not draw. The next second's point (a rate of 0) makes it a line.
  REQUIRE_MESSAGE(eventually(
                    [&] {
                      points = drawn();
                      return points["up"] == true && points["n"].get<int>() >= 2;
                    },
                    60),
                  points.dump());
  auto chart = b.screenshot("#rate-chart");
  CHECK(chart.size() > 100);
  CHECK(chart != blank); // the picture changed, not only the DOM
  // Every success lands in one second of the history (the sampler may still owe the last one).
  int64_t succeeded = 0;
  CHECK(eventually([&] {
    succeeded = 0;
    auto history = json::parse(f.client().Get("/api/throughput")->body);
    for (const auto& s : history["samples"])
      succeeded += s["succeeded"].get<int64_t>();
    return succeeded == 41;
  }, 30));
  CHECK(succeeded == 41);

  // The batch page: linked from the front page, its tasks with attempts, every value as text.
  CHECK(b.run("return document.querySelector('tr[data-batch-id=\"" + id + "\"] a').getAttribute('href');")
        == "/batches/" + id);
  b.open(f.url("/batches/" + id));
  auto row_of = [&](const std::string& task) {
    return b.run("const id = " + json(task).dump() + ";"
                 "const row = [...document.querySelectorAll('tr[data-task-id]')].find(r => r.dataset.taskId === id);"
                 "const attempts = [...document.querySelectorAll('tr[data-attempts-of]')]"
                 "  .find(r => r.dataset.attemptsOf === id);"
                 "return row ? {state: row.dataset.state, cells: [...row.cells].map(c => c.textContent),"
                 " attempts: attempts ? attempts.textContent : null,"
                 " buttons: row.querySelectorAll('button').length} : null;");
  };
  json bad;
  REQUIRE(eventually([&] { return !(bad = row_of("bad")).is_null(); }, 60));
  CHECK(bad["state"] == "failed");
  CHECK(bad["cells"][5] == "task failed on purpose (attempt 1)");
  CHECK(bad["attempts"].get<std::string>().find("#1 local") != std::string::npos);
  CHECK(bad["buttons"] == 1);
  auto html = row_of("<img src=x onerror=alert(1)>");
  REQUIRE_FALSE(html.is_null());
  CHECK(html["cells"][0] == "<img src=x onerror=alert(1)>");
  CHECK(html["cells"][5].get<std::string>().find("<b>bold</b>") != std::string::npos);
  CHECK(b.run("return document.querySelectorAll('#tasks img, #tasks script, #tasks b').length;") == 0);
  CHECK(b.run("return document.querySelectorAll('#tasks tr[data-task-id]').length;") == 42);
  // Replay the failure from its row: it runs again (and fails again, max-retries=0).
  b.run("document.querySelector('tr[data-task-id=\"bad\"] button').click(); return null;");
  REQUIRE(eventually([&] { return f.d.query_int("SELECT attempts FROM tasks WHERE task_id = 'bad'") == 2; }, 60));
}

TEST_CASE("with http-actions on, the page's Cancel button cancels a batch") {
  http_fleetd f{"http-actions=true\n"};
  REQUIRE_MESSAGE(f.d.start(), f.d.log());
  f.d.ctl({"pause", "--fleet"});
  auto id = f.d.submit(write_tasks(f.d, "echo.jsonl", 4, "echo", "{}"));
  browser b;
  b.open(f.url("/?refresh=200"));
  REQUIRE(eventually([&] { return !batch_row(b, id).is_null(); }, 60));
  CHECK(b.run("return document.getElementById('fleet-actions').hidden;") == false);
  auto clicked = b.run("const buttons = [...document.querySelectorAll('tr[data-batch-id=\"" + id + "\"] button')];"
                       "const cancel = buttons.find(x => x.textContent === 'Cancel');"
                       "if (!cancel) return false; cancel.click(); return true;");
  REQUIRE(clicked == true);
  REQUIRE(eventually([&] { return batch_row(b, id)["status"] == "cancelled"; }, 60));
  CHECK(f.d.ctl_json({"status", id})["status"] == "cancelled");
  CHECK(f.d.count_in_log("http: cancel batch " + id + " from the status page (done)") == 1);
}
