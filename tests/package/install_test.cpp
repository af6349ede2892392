// The installed package (issue 18): `cmake --install` into a temporary prefix, then everything a
// user builds against that prefix alone (never the source tree): each public header on its own,
// the example client as a CMake project with find_package(fleetd), and the same example through
// pkg-config; both run against a real fleetd, and the results are checked in SQLite.

#include "e2e/fleetd_process.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "fleetd/version.hpp"

using namespace fleet::test;
namespace fs = std::filesystem;

namespace {

/// Runs a shell command line; fails the test with its output if it fails.
run_result sh(const std::string& line) {
  auto r = run({"sh", "-c", line});
  REQUIRE_MESSAGE(r.exit_code == 0, line << "\n" << r.out << r.err);
  return r;
}

std::string shell_quoted(const std::string& s) {
  return "'" + s + "'";
}

/// Installs the build into `dir`/prefix and builds examples/`name` against that prefix alone; the
/// project's build directory.
std::string build_example(temp_dir& dir, const std::string& name) {
  auto prefix = dir.file("prefix");
  sh("cmake --install " + shell_quoted(FLEET_BINARY_DIR) + " --prefix " + shell_quoted(prefix) + " > /dev/null");
  auto project = dir.file(name + "-build");
  sh("cmake -S " + shell_quoted(std::string{FLEET_SOURCE_DIR} + "/examples/" + name) + " -B " + shell_quoted(project)
     + " -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_PREFIX_PATH=" + shell_quoted(prefix) + " > /dev/null");
  sh("cmake --build " + shell_quoted(project) + " > /dev/null");
  return project;
}

} // namespace

TEST_CASE("the installed package: public headers alone, a CMake project and pkg-config against the prefix") {
  temp_dir dir;
  auto prefix = dir.file("prefix");
  sh("cmake --install " + shell_quoted(FLEET_BINARY_DIR) + " --prefix " + shell_quoted(prefix) + " > /dev/null");

  // Public headers, and only those: each compiles with nothing but the prefix (and the system).
  auto include = prefix + "/include/fleetd";
  for (auto name : {"client.hpp", "interfaces.hpp", "task.hpp", "error.hpp", "tls.hpp", "version.hpp"})
    CHECK_MESSAGE(fs::exists(include + "/" + name), name);
  for (auto internal : {"store.hpp", "fleet_manager.hpp", "transport.hpp", "validation.hpp"})
    CHECK_MESSAGE(!fs::exists(include + "/" + internal), internal);
  CHECK_FALSE(fs::exists(prefix + "/include/fleet"));
  std::string units;
  for (const auto& entry : fs::directory_iterator(include)) {
    auto unit = dir.file("check_" + entry.path().stem().string() + ".cpp");
    std::ofstream{unit} << "#include <fleetd/" << entry.path().filename().string() << ">\n";
    units += " " + shell_quoted(unit);
  }
  sh("cd " + shell_quoted(dir.file("")) + " && g++ -std=c++20 -fsyntax-only -I" + shell_quoted(prefix + "/include") + units);
  // The public structs name their first members and leave the rest to defaults, without a
  // missing-initializer warning under -Wextra.
  auto partial = dir.file("partial_aggregates.cpp");
  std::ofstream{partial} << "#include <fleetd/client.hpp>\n#include <fleetd/node_info.hpp>\n"
                            "#include <fleetd/schedule.hpp>\n#include <fleetd/task_context.hpp>\n"
                            "#include <fleetd/tls.hpp>\n"
                            "void f() {\n"
                            "  fleet::task t{\"t1\", \"echo\"};\n"
                            "  fleet::tls_files tls{\"cert.pem\", \"key.pem\", \"ca.pem\"};\n"
                            "  fleet::node_announcement a{\"gpu-1\", {\"render\"}, 8};\n"
                            "  fleet::attempt_info info{\"w-1\", 2};\n"
                            "  fleet::fleet_endpoint e{\"127.0.0.1\"};\n"
                            "  fleet::schedule_spec s{\"nightly\", \"0 3 * * *\"};\n"
                            "  fleet::task_outcome o{true, \"{}\"};\n"
                            "  (void)t; (void)tls; (void)a; (void)info; (void)e; (void)s; (void)o;\n"
                            "}\n";
  sh("g++ -std=c++20 -fsyntax-only -Wextra -Werror=missing-field-initializers -I" + shell_quoted(prefix + "/include")
     + " " + shell_quoted(partial));
  CHECK(fs::exists(prefix + "/lib/cmake/fleetd/fleetdConfig.cmake"));
  CHECK(fs::exists(prefix + "/lib/cmake/fleetd/fleetdConfigVersion.cmake"));

  // The example client as its own project: only find_package(fleetd) tells it where fleetd is.
  auto project = dir.file("client-build");
  sh("cmake -S " + shell_quoted(std::string{FLEET_SOURCE_DIR} + "/examples/client") + " -B " + shell_quoted(project)
     + " -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_PREFIX_PATH=" + shell_quoted(prefix) + " > /dev/null");
  sh("cmake --build " + shell_quoted(project) + " > /dev/null");
  // A version of fleetd the package is not compatible with is refused at configure time.
  auto wrong = dir.file("wrong-version");
  fs::create_directories(wrong);
  std::ofstream{wrong + "/CMakeLists.txt"} << "cmake_minimum_required(VERSION 3.25)\nproject(w LANGUAGES CXX)\n"
                                              "find_package(fleetd 9.0 CONFIG REQUIRED)\n";
  auto refused = run({"cmake", "-S", wrong, "-B", wrong + "/build", "-DCMAKE_PREFIX_PATH=" + prefix});
  CHECK(refused.exit_code != 0);
  CHECK_MESSAGE(refused.err.find("fleetd") != std::string::npos, refused.err);

  // The same example through pkg-config.
  auto pc_client = dir.file("pc-client");
  sh("PKG_CONFIG_PATH=" + shell_quoted(prefix + "/lib/pkgconfig") + " g++ -o " + shell_quoted(pc_client) + " "
     + shell_quoted(std::string{FLEET_SOURCE_DIR} + "/examples/client/main.cpp")
     + " $(PKG_CONFIG_PATH=" + shell_quoted(prefix + "/lib/pkgconfig") + " pkg-config --cflags --libs fleetd-client)");

  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  for (const auto& program : {project + "/fleet-client-example", pc_client}) {
    CAPTURE(program);
    auto r = run({program, "127.0.0.1", std::to_string(d.port())});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("Progress: 100% (completed)") != std::string::npos);
    CHECK(r.out.find("Result: task-2 ok {\"value\": 2}") != std::string::npos);
  }
  CHECK(d.query_int("SELECT count(*) FROM batches") == 2);
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 8);
  CHECK(d.query_int("SELECT count(*) FROM batch_summary WHERE status = 'completed'") == 2);
}

TEST_CASE("the installed package: a daemon of one's own with an in-process task type, built against the prefix") {
  temp_dir dir;
  auto project = build_example(dir, "daemon");

  fleetd_process d;
  d.use_binary(project + "/my-fleetd");
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, R"({"id": "h", "type": "checksum", "data": {"text": "hello"}})" "\n"
                    R"({"id": "h2", "type": "checksum", "data": {"text": "hello"}})" "\n"
                    R"({"id": "h3", "type": "checksum", "data": {"text": ""}})" "\n"
                    R"({"id": "e", "type": "echo", "data": {"x": 1}})" "\n");
  auto id = d.submit(tasks);
  REQUIRE(d.ctl({"wait", id}).exit_code == 0);
  // FNV-1a of "hello", computed by the user's worker inside the daemon; the built-in types stay.
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 4);
  auto results = d.results_by_task(id);
  CHECK(results["h"]["result"]["fnv1a"] == "11831194018420276491");
  CHECK(results["h3"]["result"]["fnv1a"] == "14695981039346656037");
  // The hooks ran every checksum attempt on one long-lived worker: it served 1, 2 and 3.
  std::set<int64_t> served;
  for (auto task : {"h", "h2", "h3"})
    served.insert(results[task]["result"]["served"].get<int64_t>());
  CHECK(served == std::set<int64_t>{1, 2, 3});
  CHECK(results["e"]["result"] == nlohmann::json{{"x", 1}});
  // The user's submit-time check refuses bad data before anything is stored.
  auto bad = d.file("bad.jsonl");
  write_file(bad, R"({"id": "b", "type": "checksum", "data": {"nope": 1}})" "\n");
  auto refused = d.ctl({"submit", bad});
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("checksum needs {\"text\": STRING}") != std::string::npos);
  CHECK(d.query_int("SELECT count(*) FROM batches") == 1);
  CHECK(d.terminate() == 0);
}

TEST_CASE("the installed package: a worker node of one's own with a function type and an actor type") {
  temp_dir dir;
  auto project = build_example(dir, "node");
  // fleetd::node needs no SQLite: the node links none.
  auto ldd = run({"ldd", project + "/my-node"});
  CHECK(ldd.out.find("sqlite") == std::string::npos);

  fleetd_process d{"local-workers=0\nnode-heartbeat=200\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  temp_dir node_dir;
  auto node_log = node_dir.file("node.log");
  logged_process node;
  node.launch({project + "/my-node", "--node.fleetd-port=" + std::to_string(d.port()), "--node.name=words",
               "--node.capacity=4"},
              node_log);
  REQUIRE_MESSAGE(eventually([&] { return d.ctl({"nodes"}).out.find("reverse,wordcount") != std::string::npos; }),
                  read_file(node_log));
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, R"({"id": "w", "type": "wordcount", "data": {"text": "to be or not to be, whatever"}})" "\n"
                    R"({"id": "r", "type": "reverse", "data": {"text": "fleet"}})" "\n"
                    R"({"id": "bad", "type": "wordcount", "data": {"words": 3}})" "\n");
  auto id = d.submit(tasks);
  d.ctl({"wait", id});
  auto results = d.results_by_task(id);
  REQUIRE(results.size() == 3);
  CHECK(results["w"]["result"] == nlohmann::json{{"words", 7}, {"longest", "whatever"}});
  CHECK(results["r"]["result"] == nlohmann::json{{"reversed", "teelf"}});
  // The node's data check fails the task for good: one attempt, the check's words.
  CHECK(results["bad"]["success"] == false);
  CHECK(results["bad"]["error"].get<std::string>().find("needs {\"text\": STRING}") != std::string::npos);
  CHECK(d.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq WHERE t.task_id = 'bad'") == 1);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE node = 'words'") == 3);
  CHECK(read_file(node_log).find("[task w attempt 1] counted 7 words") != std::string::npos);
  // SIGTERM drains the node and it leaves cleanly.
  CHECK(node.terminate() == 0);
  CHECK(eventually([&] { return d.ctl({"nodes"}).out.find("words") == std::string::npos; }));
}

TEST_CASE("the Debian packages: contents, control fields, the systemd units, and the packaged layout runs") {
  temp_dir dir;
  auto out = dir.file("dist");
  auto built = sh(std::string{FLEET_SOURCE_DIR} + "/scripts/package.sh --fast --build-dir " + shell_quoted(FLEET_BINARY_DIR)
                  + " --out " + shell_quoted(out));
  std::string runtime, dev;
  for (const auto& entry : fs::directory_iterator(out)) {
    auto name = entry.path().filename().string();
    if (name.rfind("fleetd_", 0) == 0)
      runtime = entry.path().string();
    if (name.rfind("libfleetd-dev_", 0) == 0)
      dev = entry.path().string();
  }
  REQUIRE_MESSAGE(!runtime.empty(), built.out);
  REQUIRE(!dev.empty());
  CHECK(fs::path(runtime).filename().string().find("_" + std::string{FLEETD_VERSION} + "_") != std::string::npos);

  auto contents = sh("dpkg-deb --contents " + shell_quoted(runtime)).out;
  for (auto path : {"./usr/bin/fleetd", "./usr/bin/fleetctl", "./usr/bin/fleet-node", "./etc/fleetd/fleetd.ini",
                    "./etc/fleetd/fleet-node.ini", "./lib/systemd/system/fleetd.service",
                    "./lib/systemd/system/fleet-node.service"})
    CHECK_MESSAGE(contents.find(std::string{path} + "\n") != std::string::npos, path);
  CHECK(contents.find("./usr/include") == std::string::npos);
  auto dev_contents = sh("dpkg-deb --contents " + shell_quoted(dev)).out;
  for (auto path : {"./usr/include/fleetd/node.hpp", "./usr/include/fleetd/client.hpp", "./usr/include/fleetd/version.hpp",
                    "./usr/lib/cmake/fleetd/fleetdConfig.cmake", "./usr/lib/cmake/fleetd/fleetdNodeTargets.cmake",
                    "./usr/lib/pkgconfig/fleetd-client.pc", "./usr/lib/libfleetd_client.a"})
    CHECK_MESSAGE(dev_contents.find(std::string{path} + "\n") != std::string::npos, path);
  CHECK(dev_contents.find("./usr/include/fleet/") == std::string::npos); // internal headers stay home

  auto depends = sh("dpkg-deb -f " + shell_quoted(runtime) + " Depends").out;
  CHECK(depends.find("libcaf-core0.17") != std::string::npos);
  CHECK(depends.find("libsqlite3-0") != std::string::npos);
  CHECK(depends.find("adduser") != std::string::npos);
  CHECK(depends.find("libjemalloc2") != std::string::npos); // fleet-node's allocator
  CHECK(sh("dpkg-deb -f " + shell_quoted(dev) + " Depends").out.find("libcaf-dev") != std::string::npos);
  auto control = dir.file("control");
  sh("dpkg-deb -e " + shell_quoted(runtime) + " " + shell_quoted(control));
  CHECK(read_file(control + "/conffiles") == "/etc/fleetd/fleetd.ini\n/etc/fleetd/fleet-node.ini\n");
  CHECK(read_file(control + "/postinst").find("adduser --system --group") != std::string::npos);

  auto root = dir.file("root");
  sh("dpkg-deb -x " + shell_quoted(runtime) + " " + shell_quoted(root));
  auto unit = read_file(root + "/lib/systemd/system/fleetd.service");
  for (auto line : {"User=fleetd", "ExecStart=/usr/bin/fleetd --config-file=/etc/fleetd/fleetd.ini",
                    "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/fleetd",
                    "StateDirectory=fleetd", "KillSignal=SIGTERM", "TimeoutStopSec=90"})
    CHECK_MESSAGE(unit.find(std::string{line} + "\n") != std::string::npos, line);
  auto packaged_ini = read_file(root + "/etc/fleetd/fleetd.ini");
  CHECK(packaged_ini.find("db=\"/var/lib/fleetd/fleet.db\"\n") != std::string::npos);
  CHECK(packaged_ini.find("exec-allow=\"\"\n") != std::string::npos);
  // systemd stops the service with SIGTERM; the drain must fit in TimeoutStopSec.
  CHECK(packaged_ini.find("drain-timeout=30000\n") != std::string::npos);

  // systemd's own check, where systemd-analyze exists: the units with their ExecStart pointed at
  // the unpacked binaries; it warns (on stderr) about every key or value it does not accept.
  if (run({"sh", "-c", "command -v systemd-analyze"}).exit_code == 0) {
    auto verify = [&](const std::string& name, const std::string& text) {
      auto path = dir.file(name);
      write_file(path, text);
      return run({"systemd-analyze", "verify", "--man=no", path});
    };
    for (auto name : {"fleetd.service", "fleet-node.service"}) {
      auto text = read_file(root + "/lib/systemd/system/" + name);
      for (auto program : {"/usr/bin/fleetd ", "/usr/bin/fleet-node "})
        if (auto at = text.find(program); at != std::string::npos)
          text.replace(at, 8, root + "/usr/bin/");
      auto r = verify(name, text);
      CHECK_MESSAGE(r.exit_code == 0, name);
      CHECK_MESSAGE(r.err.empty(), name << ": " << r.err);
    }
    auto bad = verify("bad.service", "[Service]\nExecStart=" + root + "/usr/bin/fleetd\nProtectSystem=sometimes\n");
    CHECK_FALSE(bad.err.empty()); // the check can fail
  }

  // The unpacked layout runs: fleetd on the packaged configuration (its database moved into the
  // temporary root), fleetctl and fleet-node from the package.
  auto port = free_port();
  auto db = root + "/var/lib/fleetd/fleet.db";
  logged_process daemon;
  auto daemon_log = dir.file("fleetd.log");
  daemon.launch({root + "/usr/bin/fleetd", "--config-file=" + root + "/etc/fleetd/fleetd.ini", "--fleet.db=" + db,
                 "--fleet.port=" + std::to_string(port), "--fleet.http-port=0"},
                daemon_log);
  REQUIRE_MESSAGE(eventually([&] {
                    return read_file(daemon_log).find("listening on 127.0.0.1:" + std::to_string(port)) != std::string::npos;
                  }),
                  read_file(daemon_log));
  logged_process node;
  auto node_log = dir.file("node.log");
  node.launch({root + "/usr/bin/fleet-node", "--config-file=" + root + "/etc/fleetd/fleet-node.ini",
               "--node.fleetd-port=" + std::to_string(port)},
              node_log);
  auto fleetctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {root + "/usr/bin/fleetctl", "--port", std::to_string(port)});
    return run(args);
  };
  CHECK_MESSAGE(eventually([&] { return fleetctl({"nodes"}).out.find("node-1") != std::string::npos; }),
                read_file(node_log));
  auto tasks = dir.file("tasks.jsonl");
  write_file(tasks, R"({"id": "a", "type": "echo", "data": {"n": 1}})" "\n" R"({"id": "b", "type": "sleep", "data": {"ms": 10}})" "\n");
  auto submitted = fleetctl({"submit", "--wait", tasks});
  CHECK_MESSAGE(submitted.exit_code == 0, submitted.err);
  CHECK(query_db_int(db, "SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 2);
  CHECK(node.terminate() == 0);
  CHECK(daemon.terminate() == 0);
}
