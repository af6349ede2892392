#include "fleet/subprocess.hpp"

#include "fleet/child_journal.hpp"
#include "fleet/child_sandbox.hpp"
#include "fleet/sandboxed_spawn.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fleet {

namespace {

struct spawn_resources {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  spawn_resources() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~spawn_resources() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]})
      if (fd >= 0)
        ::close(fd);
  }
};

/// What a child started without a sandbox gets: fleetd's whole environment.
const child_sandbox& inherit_everything() {
  static const child_sandbox inherit = [] {
    child_sandbox s;
    s.inherit_env = true;
    return s;
  }();
  return inherit;
}

std::vector<char*> c_strings(std::vector<std::string>& xs) {
  std::vector<char*> out;
  for (auto& x : xs)
    out.push_back(x.data());
  out.push_back(nullptr);
  return out;
}

/// Keeps the last `limit` bytes of a stream. A cut never splits a UTF-8 character: the part of a
/// character left before the cut (up to three continuation bytes) goes too.
void append_tail(std::string& tail, bool& truncated, const char* data, size_t n, size_t limit) {
  tail.append(data, n);
  if (tail.size() <= limit)
    return;
  auto cut = tail.size() - limit;
  for (int k = 0; k < 3 && cut < tail.size() && (static_cast<unsigned char>(tail[cut]) >> 6) == 0x2; ++k)
    ++cut;
  tail.erase(0, cut);
  truncated = true;
}

} // namespace

void child_record::forget() {
  if (journal != nullptr)
    journal->clear(slot);
  journal = nullptr;
}

caf::expected<spawned_child> spawn_child(const std::vector<std::string>& program,
                                         const std::map<std::string, std::string>& extra_env, bool pipe_stdin,
                                         std::string_view label, const child_sandbox* sandbox) {
  if (program.empty() || program[0].empty())
    return caf::make_error(errc::invalid_task, "exec: argv must name a program");
  spawn_resources res;
  if (::pipe2(res.out, O_CLOEXEC) != 0 || ::pipe2(res.err, O_CLOEXEC) != 0
      || (pipe_stdin && ::pipe2(res.in, O_CLOEXEC) != 0))
    return caf::make_error(errc::worker_failed, fmt::format("exec: pipe: {}", std::strerror(errno)));
  auto args = program;
  auto env = (sandbox != nullptr ? *sandbox : inherit_everything()).environment(extra_env);
  auto argv = c_strings(args);
  auto envp = c_strings(env);
  pid_t pid = 0;
  if (sandbox != nullptr && sandbox->needs_fork()) {
    auto path = find_program(program[0]);
    if (!path)
      return path.error();
    if (!pipe_stdin && (res.in[0] = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
      return caf::make_error(errc::worker_failed, fmt::format("exec: /dev/null: {}", std::strerror(errno)));
    auto started = sandboxed_spawn(*path, argv.data(), envp.data(), res.in[0], res.out[1], res.err[1], *sandbox);
    if (!started)
      return started.error();
    pid = *started;
  } else {
    if (pipe_stdin)
      posix_spawn_file_actions_adddup2(&res.actions, res.in[0], 0);
    else
      posix_spawn_file_actions_addopen(&res.actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&res.actions, res.out[1], 1);
    posix_spawn_file_actions_adddup2(&res.actions, res.err[1], 2);
    if (sandbox != nullptr && !sandbox->cwd.empty())
      posix_spawn_file_actions_addchdir_np(&res.actions, sandbox->cwd.c_str());
    // Own process group, so that a timeout or cancel kills everything the program started;
    // default signal mask and dispositions, whatever the daemon blocked for itself.
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD})
      sigaddset(&defaults, sig);
    posix_spawnattr_setpgroup(&res.attr, 0);
    posix_spawnattr_setsigmask(&res.attr, &empty);
    posix_spawnattr_setsigdefault(&res.attr, &defaults);
    posix_spawnattr_setflags(&res.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    auto rc = posix_spawnp(&pid, argv[0], &res.actions, &res.attr, argv.data(), envp.data());
    if (rc != 0)
      return caf::make_error(can_never_start(rc) ? errc::invalid_task : errc::worker_failed,
                             fmt::format("exec: cannot start {}: {}", program[0], std::strerror(rc)));
  }
  spawned_child out;
  out.pid = pid;
  out.in_fd = std::exchange(res.in[1], -1);
  out.out_fd = std::exchange(res.out[0], -1);
  out.err_fd = std::exchange(res.err[0], -1);
  if (auto* journal = child_journal::installed()) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch()).count();
    if (auto slot = journal->note(pid, label, now); slot != child_journal::npos)
      out.record = {journal, slot};
  }
  return out;
}

caf::expected<std::shared_ptr<child_process>> child_process::start(const subprocess_spec& spec) {
  auto spawned = spawn_child(spec.argv, spec.env, false, spec.label, spec.sandbox.get());
  if (!spawned)
    return spawned.error();
  auto child = new child_process(spawned->pid, spawned->out_fd, spawned->err_fd, spec.timeout_ms, spec.tail_bytes,
                                 spawned->record);
  return std::shared_ptr<child_process>(child);
}

child_process::child_process(pid_t pid, int out_fd, int err_fd, int64_t timeout_ms,
                             size_t tail_bytes, child_record record)
  : pid_(pid), out_fd_(out_fd), err_fd_(err_fd), timeout_ms_(timeout_ms), tail_bytes_(tail_bytes), record_(record) {
}

child_process::~child_process() {
  kill();
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!reaped_) {
      ::waitpid(pid_, nullptr, 0);
      reaped_ = true;
      record_.forget();
    }
  }
  if (out_fd_ >= 0)
    ::close(out_fd_);
  if (err_fd_ >= 0)
    ::close(err_fd_);
}

void child_process::kill() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!reaped_) {
    killed_ = true;
    ::kill(-pid_, SIGKILL);
  }
}

bool read_outputs(int out_fd, int err_fd, int64_t timeout_ms, const output_handler& on_chunk) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  char buf[65536];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    int wait_ms = -1;
    if (timeout_ms > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      if (left.count() <= 0)
        return false;
      wait_ms = static_cast<int>(std::min<int64_t>(left.count(), 1000 * 60));
    }
    auto n = ::poll(fds, 2, wait_ms);
    if (n < 0 && errno != EINTR)
      break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0)
        continue;
      auto got = ::read(fds[i].fd, buf, sizeof(buf));
      if (got > 0) {
        on_chunk(i, std::string_view{buf, static_cast<size_t>(got)});
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1; // EOF: the child (and every holder of the pipe) closed it
        on_chunk(i, {});
      }
    }
  }
  return true;
}

int reap(pid_t pid, std::mutex& mtx, bool& reaped, child_record& record) {
  // Wait without reaping first, so that a kill() under `mtx` never signals a recycled pid.
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR)
    ;
  int status = 0;
  std::lock_guard<std::mutex> guard{mtx};
  ::waitpid(pid, &status, 0);
  reaped = true;
  record.forget();
  return status;
}

subprocess_result child_process::wait() {
  subprocess_result result;
  std::string* tails[2] = {&result.stdout_tail, &result.stderr_tail};
  bool* truncated[2] = {&result.stdout_truncated, &result.stderr_truncated};
  auto in_time = read_outputs(out_fd_, err_fd_, timeout_ms_, [&](int stream, std::string_view chunk) {
    append_tail(*tails[stream], *truncated[stream], chunk.data(), chunk.size(), tail_bytes_);
  });
  if (!in_time) {
    result.timed_out = true;
    kill();
  }
  auto status = reap(pid_, mtx_, reaped_, record_);
  {
    // Once reaped, kill() changes nothing more.
    std::lock_guard<std::mutex> guard{mtx_};
    result.killed = killed_ && !result.timed_out;
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

caf::expected<subprocess_result> run_subprocess(const subprocess_spec& spec) {
  auto child = child_process::start(spec);
  if (!child)
    return child.error();
  return (*child)->wait();
}

} // namespace fleet
