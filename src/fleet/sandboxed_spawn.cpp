#include "fleet/sandboxed_spawn.hpp"

#include "fleet/child_sandbox.hpp"
#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace fleet {

namespace {

/// The step of the child's set-up that failed, sent back through a close-on-exec pipe: nothing
/// arrives once execve succeeded.
enum class step : int { setup = 1, cwd, limits, user, exec };

struct child_failure {
  step failed = step::setup;
  int error = 0;
};

[[noreturn]] void fail_in_child(int fd, step failed) {
  child_failure f{failed, errno};
  [[maybe_unused]] auto n = ::write(fd, &f, sizeof f);
  ::_exit(127);
}

struct limit {
  int resource;
  rlimit value;
};

caf::error step_error(const child_failure& f, const std::string& path, const child_sandbox& sandbox) {
  auto why = std::string{std::strerror(f.error)};
  switch (f.failed) {
    case step::cwd:
      return caf::make_error(errc::worker_failed,
                             fmt::format("exec: cannot start {}: cannot change to {}: {}", path, sandbox.cwd, why));
    case step::limits:
      return caf::make_error(errc::worker_failed,
                             fmt::format("exec: cannot start {}: cannot set its resource limits: {}", path, why));
    case step::user:
      return caf::make_error(errc::worker_failed,
                             fmt::format("exec: cannot start {}: cannot become user {}: {}", path, sandbox.user, why));
    case step::exec:
      return caf::make_error(can_never_start(f.error) ? errc::invalid_task : errc::worker_failed,
                             fmt::format("exec: cannot start {}: {}", path, why));
    default:
      return caf::make_error(errc::worker_failed, fmt::format("exec: cannot start {}: {}", path, why));
  }
}

} // namespace

bool can_never_start(int code) {
  switch (code) {
    case E2BIG:
    case ENOENT:
    case ENOTDIR:
    case EACCES:
    case EPERM:
    case ENOEXEC:
    case ENAMETOOLONG:
    case ELOOP:
    case EISDIR:
    case EINVAL:
      return true;
    default:
      return false; // EAGAIN, ENOMEM, EMFILE, ENFILE, ...: the next attempt may find room
  }
}

caf::expected<std::string> find_program(const std::string& name) {
  if (name.find('/') != std::string::npos)
    return name;
  const char* env_path = std::getenv("PATH");
  std::string_view dirs = env_path != nullptr ? env_path : "/bin:/usr/bin";
  while (true) {
    auto colon = dirs.find(':');
    auto dir = dirs.substr(0, colon);
    auto candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, name);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    if (colon == std::string_view::npos)
      break;
    dirs.remove_prefix(colon + 1);
  }
  return caf::make_error(errc::invalid_task, fmt::format("exec: cannot start {}: {}", name, std::strerror(ENOENT)));
}

caf::expected<pid_t> sandboxed_spawn(const std::string& path, char* const* argv, char* const* envp, int in_fd,
                                     int out_fd, int err_fd, const child_sandbox& sandbox) {
  // Everything the child needs is made here: after fork it may not allocate.
  limit limits[3];
  int count = 0;
  auto add = [&](int resource, rlim_t soft, rlim_t hard) { limits[count++] = {resource, {soft, hard}}; };
  if (sandbox.max_memory_mib != 0)
    add(RLIMIT_AS, static_cast<rlim_t>(sandbox.max_memory_mib) << 20, static_cast<rlim_t>(sandbox.max_memory_mib) << 20);
  if (sandbox.max_files != 0)
    add(RLIMIT_NOFILE, sandbox.max_files, sandbox.max_files);
  if (sandbox.max_cpu_seconds != 0) // SIGXCPU at the soft limit, SIGKILL a second later
    add(RLIMIT_CPU, sandbox.max_cpu_seconds, sandbox.max_cpu_seconds + 1);
  const auto* user = sandbox.resolved_user ? &*sandbox.resolved_user : nullptr;
  const char* cwd = sandbox.cwd.empty() ? nullptr : sandbox.cwd.c_str();
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0)
    return caf::make_error(errc::worker_failed, fmt::format("exec: pipe: {}", std::strerror(errno)));
  // No handler of fleetd's may run in the child between fork and execve.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  auto pid = ::fork();
  if (pid == 0) {
    struct sigaction defaults {};
    defaults.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
      ::sigaction(sig, &defaults, nullptr);
    if (::setpgid(0, 0) != 0 || ::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0)
      fail_in_child(report[1], step::setup);
    if (cwd != nullptr && ::chdir(cwd) != 0)
      fail_in_child(report[1], step::cwd);
    for (int i = 0; i < count; ++i)
      if (::setrlimit(limits[i].resource, &limits[i].value) != 0)
        fail_in_child(report[1], step::limits);
    if (user != nullptr
        && (::setgroups(user->groups.size(), user->groups.data()) != 0 || ::setgid(user->gid) != 0
            || ::setuid(user->uid) != 0))
      fail_in_child(report[1], step::user);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(path.c_str(), argv, envp);
    fail_in_child(report[1], step::exec);
  }
  auto fork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(report[1]);
  if (pid < 0) {
    ::close(report[0]);
    return caf::make_error(errc::worker_failed, fmt::format("exec: cannot start {}: fork: {}", path,
                                                            std::strerror(fork_error)));
  }
  // Also here, so that the group exists before anyone signals it (fails harmlessly once the child
  // has exec'd).
  ::setpgid(pid, pid);
  child_failure failure;
  ssize_t n = 0;
  do
    n = ::read(report[0], &failure, sizeof failure);
  while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR)
      ;
    return step_error(failure, path, sandbox);
  }
  return pid;
}

} // namespace fleet
