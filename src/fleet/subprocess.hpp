#pragma once

#include <caf/expected.hpp>

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace fleet {

class child_journal;
struct child_sandbox;

/// A program to run without a shell.
struct subprocess_spec {
  std::vector<std::string> argv;            ///< argv[0] is looked up in PATH
  std::map<std::string, std::string> env;   ///< over the sandbox's environment
  /// Environment, user, directory and limits; none: fleetd's whole environment, no limits.
  std::shared_ptr<const child_sandbox> sandbox;
  int64_t timeout_ms = 0;                   ///< 0: no limit of its own
  size_t tail_bytes = 4096;                 ///< how much of the end of stdout/stderr to keep
  std::string label;                        ///< what it runs for, in the child journal (a worker id)
};

/// How a child process ended.
struct subprocess_result {
  int exit_code = -1; ///< -1 if killed by a signal
  int signal = 0;     ///< the terminating signal, 0 if it exited
  bool timed_out = false;
  bool killed = false; ///< stopped by `kill()` from outside
  std::string stdout_tail; ///< raw bytes; starts at a UTF-8 character boundary when cut
  std::string stderr_tail;
  bool stdout_truncated = false; ///< earlier output was dropped: only the tail is kept
  bool stderr_truncated = false;
};

/// A child's entry in the child journal it was noted in (none: not noted).
struct child_record {
  child_journal* journal = nullptr;
  size_t slot = 0;
  /// The child was reaped: its entry goes (its pid may name another process from now on).
  void forget();
};

/// A child just started in its own process group, with the default signal mask and dispositions:
/// the write end of its stdin pipe (-1: stdin is /dev/null) and the read ends of stdout and stderr.
struct spawned_child {
  pid_t pid = -1;
  int in_fd = -1;
  int out_fd = -1;
  int err_fd = -1;
  child_record record; ///< its entry in the child journal, cleared once it is reaped
};

/// Starts `argv` (argv[0] looked up in fleetd's PATH) with `env` over the environment `sandbox`
/// gives (none: fleetd's whole environment), as its user, in its directory, under its limits, and
/// notes it as `label` in the installed child journal (if any). Errors as child_process::start.
caf::expected<spawned_child> spawn_child(const std::vector<std::string>& argv,
                                         const std::map<std::string, std::string>& env, bool pipe_stdin,
                                         std::string_view label = {}, const child_sandbox* sandbox = nullptr);

/// A running child in its own process group, with stdin from /dev/null and stdout/stderr piped.
/// `wait` blocks (call it off CAF's scheduler threads); `kill` may be called from any thread.
class child_process {
public:
  /// Starts the program. A program that can never start as asked (not found, not executable,
  /// arguments too long) fails with errc::invalid_task; a lack of resources that may pass
  /// (processes, memory, descriptors) with errc::worker_failed.
  static caf::expected<std::shared_ptr<child_process>> start(const subprocess_spec& spec);

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  pid_t pid() const { return pid_; }

  /// Reads output until the child ends or its timeout passes (then kills the group), and reaps it.
  subprocess_result wait();

  /// Kills the whole process group unless the child was already reaped.
  void kill();

private:
  child_process(pid_t pid, int out_fd, int err_fd, int64_t timeout_ms, size_t tail_bytes, child_record record);
  pid_t pid_;
  int out_fd_;
  int err_fd_;
  int64_t timeout_ms_;
  size_t tail_bytes_;
  std::mutex mtx_;
  bool reaped_ = false;
  child_record record_;
  bool killed_ = false;
};

/// A chunk of a child's stdout (stream 0) or stderr (1); an empty one when that stream ended.
using output_handler = std::function<void(int stream, std::string_view chunk)>;

/// Reads `out_fd` and `err_fd` until both end, handing every chunk to `on_chunk`. With
/// `timeout_ms` > 0 it stops after that long: false then. Blocks: call it off CAF's threads.
bool read_outputs(int out_fd, int err_fd, int64_t timeout_ms, const output_handler& on_chunk);

/// Waits for `pid` to end, then reaps it under `mtx` and sets `reaped`: a kill that checks
/// `reaped` under the same lock never signals a pid the system has given to another process.
/// The wait status.
int reap(pid_t pid, std::mutex& mtx, bool& reaped, child_record& record);

/// Starts `spec` and waits for it: the blocking convenience for tests and tools.
caf::expected<subprocess_result> run_subprocess(const subprocess_spec& spec);

} // namespace fleet
