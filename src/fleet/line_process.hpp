#pragma once

#include "fleet/subprocess.hpp"

// A long-lived child process spoken to in lines: what a worker pool runs (docs/WORKER-PROTOCOL.md).

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fleet {

struct line_process_spec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  size_t max_line = 16u << 20;     ///< a longer stdout line is reported as an error, and reading stops
  size_t max_log_line = 4096;      ///< stderr lines are cut to this many bytes
  std::string label;               ///< what it runs for, in the child journal ("pool NAME")
  std::shared_ptr<const child_sandbox> sandbox; ///< as subprocess_spec's
};

/// What the process's threads report. Each is called from a thread of the process, never two at
/// once for one process; `on_exit` last, exactly once.
struct line_process_events {
  /// The complete lines of stdout (without '\n') that one read brought, in order, at least one:
  /// a child that answers several requests at once costs one hand-off, not one per line.
  std::function<void(std::vector<std::string> lines)> on_lines;
  /// A line of stdout past max_line; no more lines come after it.
  std::function<void(caf::error why)> on_broken;
  /// A line of stderr (without '\n'), cut to max_log_line.
  std::function<void(std::string line)> on_log;
  /// The process ended: "exited with code N" or "killed by signal N".
  std::function<void(std::string how)> on_exit;
};

/// A child in its own process group with stdin, stdout and stderr piped. One thread reads stdout
/// and stderr, one writes stdin (so that a child that stops reading never blocks the caller).
/// Destroying it kills the group and joins the threads.
class line_process {
public:
  static caf::expected<std::unique_ptr<line_process>> start(const line_process_spec& spec,
                                                            line_process_events events);
  line_process(const line_process&) = delete;
  line_process& operator=(const line_process&) = delete;
  ~line_process();

  pid_t pid() const { return pid_; }

  /// Queues `line` (which must end with '\n') for the child's stdin. Never blocks; the writer
  /// gives up on a child that has closed its stdin.
  void write(std::string line);

  /// Kills the whole process group (SIGKILL) unless it has been reaped; any thread.
  void kill();

private:
  line_process(pid_t pid, int in_fd, int out_fd, int err_fd, line_process_spec spec, line_process_events events,
               child_record record);
  void read_loop();
  void write_loop();

  pid_t pid_;
  int in_fd_;
  int out_fd_;
  int err_fd_;
  line_process_spec spec_;
  line_process_events events_;
  std::mutex mtx_;
  std::condition_variable wake_writer_;
  std::deque<std::string> outbox_;
  bool writing_ = false; ///< the writer thread is writing a line it took from the outbox
  bool stopping_ = false;
  bool reaped_ = false;
  child_record record_;
  std::thread reader_;
  std::thread writer_;
};

} // namespace fleet
