#pragma once

// End-to-end helpers: run the real fleetd, fleetctl and example binaries on a free loopback port
// with a temporary database. Every wait polls with a generous deadline, never a fixed sleep, so
// that a loaded machine only makes the tests slower.

#include "fleetd/error.hpp"
#include "fleet/sqlite.hpp"
#include "fleet/subprocess.hpp"
#include "query_db.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <functional>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fleet::test {

/// A program of this build by name, or any program by absolute path.
inline std::string bin(const std::string& name) {
  return name.starts_with('/') ? name : std::string{FLEET_BIN_DIR} + "/" + name;
}

/// A port nobody listens on right now (the kernel's pick for an ephemeral bind).
inline uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

/// A file of /proc/PID, or "" once the process is gone: reading the file of a process that exits
/// meanwhile fails with ESRCH, which libstdc++'s streams throw.
inline std::string read_proc_file(const std::string& path) {
  try {
    return read_file(path);
  } catch (const std::exception&) {
    return {};
  }
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path, std::ios::binary};
  out << text;
}

/// Polls `done` every 50 ms for up to `seconds`.
[[nodiscard]] inline bool eventually(const std::function<bool()>& done, int seconds = 60) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

/// What a finished program printed.
struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline run_result run(std::vector<std::string> argv, const std::string& stdin_file = {}) {
  subprocess_spec spec;
  if (!stdin_file.empty()) {
    // child_process reads stdin from /dev/null; a shell redirect feeds a file instead.
    std::vector<std::string> shell{"sh", "-c", "exec \"$@\" < \"$FLEET_STDIN\"", "sh"};
    shell.insert(shell.end(), argv.begin(), argv.end());
    argv = std::move(shell);
    spec.env["FLEET_STDIN"] = stdin_file;
  }
  spec.argv = std::move(argv);
  spec.timeout_ms = 120'000;
  spec.tail_bytes = 8 << 20;
  auto r = run_subprocess(spec);
  REQUIRE_MESSAGE(r, (r ? "" : error_text(r.error())));
  return {r->exit_code, r->stdout_tail, r->stderr_tail};
}

/// A program in the background with its stderr appended to a log file; stopped (even when
/// paused with SIGSTOP) and reaped when destroyed.
class logged_process {
public:
  logged_process() = default;
  logged_process(const logged_process&) = delete;
  logged_process& operator=(const logged_process&) = delete;

  ~logged_process() {
    if (child_) {
      ::kill(child_->pid(), SIGCONT);
      child_->kill();
      child_->wait();
    }
  }

  /// `env` is set over the test's environment.
  void launch(std::vector<std::string> argv, const std::string& log,
              const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> shell{"sh", "-c", "exec \"$@\" 2>>\"$FLEET_LOG\"", "sh"};
    shell.insert(shell.end(), argv.begin(), argv.end());
    subprocess_spec spec;
    spec.argv = std::move(shell);
    spec.env = env;
    spec.env["FLEET_LOG"] = log;
    auto c = child_process::start(spec);
    REQUIRE(c);
    child_ = *c;
  }

  /// kill -9, and reap.
  void kill_hard() {
    signal(SIGKILL);
    wait_exit();
  }

  void signal(int sig) {
    REQUIRE(child_);
    ::kill(child_->pid(), sig);
  }

  /// SIGTERM, then the exit code.
  int terminate() {
    signal(SIGTERM);
    return wait_exit();
  }

  /// Waits for the exit (after a signal sent elsewhere), then the exit code.
  int wait_exit() {
    REQUIRE(child_);
    auto r = child_->wait();
    child_.reset();
    return r.exit_code;
  }

  pid_t pid() const { return child_ ? child_->pid() : -1; }

private:
  std::shared_ptr<child_process> child_;
};

/// One fleetd process on a temporary directory: database, config file and log live there.
class fleetd_process {
public:
  explicit fleetd_process(std::string extra_config = {})
    : port_(free_port()), db_(dir_.file("fleet.db")), log_(dir_.file("fleetd.log")),
      config_(dir_.file("fleetd.ini")) {
    write_file(config_, "[fleet]\ndb=\"" + db_ + "\"\nhost=\"127.0.0.1\"\nport=" + std::to_string(port_)
                          + "\nbackoff-base=50\nbackoff-cap=200\nexec-allow=\"uname,sh,true,false,sleep\"\nplaintext-loopback=true\n"
                          + extra_config);
  }

  /// Runs another build of fleetd from now on (e.g. "fleetd-crashtest").
  void use_binary(std::string name) { binary_ = std::move(name); }

  /// An environment variable for fleetd's next starts.
  void set_env(const std::string& name, const std::string& value) { env_[name] = value; }

  /// Starts fleetd without waiting for anything (a standby does not listen until it takes over).
  void launch(std::vector<std::string> extra_args = {}) {
    std::vector<std::string> argv{bin(binary_), "--config-file=" + config_};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    proc_.launch(std::move(argv), log_, env_);
  }

  /// Starts fleetd and waits until it listens; false (with the log) if it exited instead.
  [[nodiscard]] bool start(std::vector<std::string> extra_args = {}) {
    // Counted from this start: an earlier one may have ended before it listened.
    auto marker = "listening on 127.0.0.1:" + std::to_string(port_);
    auto listened_before = count_in_log(marker);
    launch(std::move(extra_args));
    return eventually([&] { return count_in_log(marker) > listened_before || !alive(); }) && alive();
  }

  /// kill -9: no drain, no final commit.
  void kill_hard() { proc_.kill_hard(); }
  void signal(int sig) { proc_.signal(sig); }
  /// SIGTERM, then the exit code.
  int terminate() { return proc_.terminate(); }
  /// Waits for fleetd to exit (after a signal sent elsewhere), then its exit code.
  int wait_exit() { return proc_.wait_exit(); }
  pid_t pid() const { return proc_.pid(); }

  bool alive() {
    return pid() > 0 && ::kill(pid(), 0) == 0 && !zombie();
  }

  /// fleetctl against this daemon.
  run_result ctl(std::vector<std::string> args, const std::string& stdin_file = {}) {
    std::vector<std::string> argv{bin("fleetctl"), "--port", std::to_string(port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(std::move(argv), stdin_file);
  }

  /// `fleetctl submit FILE`, which must succeed: the batch id.
  std::string submit(const std::string& task_file) {
    auto r = ctl({"submit", task_file});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return r.out.substr(0, r.out.find('\n'));
  }

  nlohmann::json ctl_json(std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    auto r = ctl(args);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return nlohmann::json::parse(r.out);
  }

  /// `fleetctl --json results BATCH`, each task's result object by task id.
  std::map<std::string, nlohmann::json> results_by_task(const std::string& batch) {
    std::map<std::string, nlohmann::json> out;
    for (const auto& r : ctl_json({"results", batch}))
      out[r.at("task_id").get<std::string>()] = r;
    return out;
  }

  int64_t query_int(const std::string& sql) {
    return query_db_int(db_, sql);
  }

  std::string query_text(const std::string& sql) {
    return query_db_text(db_, sql);
  }

  int count_in_log(const std::string& needle) {
    auto text = read_file(log_);
    int n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
      ++n;
    return n;
  }

  std::string log() { return read_file(log_); }
  uint16_t port() const { return port_; }
  const std::string& db() const { return db_; }
  const std::string& config_file() const { return config_; }
  std::string file(const std::string& name) const { return dir_.file(name); }

private:
  bool zombie() {
    // The child is ours: a zombie means it exited and nobody reaped it yet.
    auto stat = read_file("/proc/" + std::to_string(pid()) + "/stat");
    auto close_paren = stat.rfind(')');
    return close_paren != std::string::npos && close_paren + 2 < stat.size() && stat[close_paren + 2] == 'Z';
  }

  temp_dir dir_;
  uint16_t port_;
  std::string db_;
  std::string log_;
  std::string config_;
  logged_process proc_; // after dir_: stopped before the directory goes
  std::string binary_ = "fleetd";
  std::map<std::string, std::string> env_;
};

/// One fleet-node process joined to a fleetd on loopback; its log in its own temporary directory.
class node_process {
public:
  node_process(uint16_t fleetd_port, std::string name, std::string types, int capacity)
    : name_(std::move(name)), log_(dir_.file("node.log")) {
    args_ = {"--node.fleetd-port=" + std::to_string(fleetd_port), "--node.name=" + name_,
             "--node.types=" + types, "--node.capacity=" + std::to_string(capacity), "--node.reconnect=200",
             "--node.state-dir=" + dir_.file("state")};
  }

  /// More options for the next start.
  void add_args(const std::vector<std::string>& args) { args_.insert(args_.end(), args.begin(), args.end()); }

  /// A config file with `text` (e.g. [pool.NAME] sections) for the next start.
  void use_config(const std::string& text) {
    write_file(dir_.file("node.ini"), text);
    args_.push_back("--config-file=" + dir_.file("node.ini"));
  }

  void start() {
    std::vector<std::string> argv{bin("fleet-node")};
    argv.insert(argv.end(), args_.begin(), args_.end());
    proc_.launch(std::move(argv), log_);
  }

  void kill_hard() { proc_.kill_hard(); }
  void signal(int sig) { proc_.signal(sig); }
  /// SIGTERM, then the exit code.
  int terminate() { return proc_.terminate(); }
  /// Waits for the exit (after a signal sent elsewhere), then the exit code.
  int wait_exit() { return proc_.wait_exit(); }

  std::string log() { return read_file(log_); }
  const std::string& name() const { return name_; }
  pid_t pid() const { return proc_.pid(); }

private:
  temp_dir dir_;
  std::string name_;
  std::string log_;
  std::vector<std::string> args_;
  logged_process proc_; // after dir_: stopped before the directory goes
};

} // namespace fleet::test
