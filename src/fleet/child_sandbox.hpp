#pragma once

// What a program fleetd starts for a task type gets: its environment, user, working directory and
// resource limits (`[exec]` for `exec` tasks, `[pool.NAME]` for a worker pool's processes).

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fleet {

/// PATH of a child unless the operator sets one: the system's programs, nothing of fleetd's.
inline constexpr const char* default_child_path = "/usr/local/bin:/usr/bin:/bin";

struct child_sandbox {
  /// true: the child gets fleetd's whole environment (before issue 22, the only way).
  bool inherit_env = false;
  /// Variables copied from fleetd's environment when it has them (e.g. HOME, LANG, TZ).
  std::vector<std::string> pass_env;
  /// Variables the operator sets (over passed ones); a task's own `env` comes on top.
  std::map<std::string, std::string> env;
  std::string user; ///< run as this user (name or uid); empty: fleetd's
  std::string cwd;  ///< absolute working directory; empty: fleetd's
  uint64_t max_memory_mib = 0;  ///< RLIMIT_AS; 0: fleetd's
  uint64_t max_files = 0;       ///< RLIMIT_NOFILE; 0: fleetd's
  uint64_t max_cpu_seconds = 0; ///< RLIMIT_CPU (SIGXCPU, then SIGKILL a second later); 0: fleetd's

  /// Filled by resolve() (fleet/sandbox_config.hpp): the user's ids, groups and home.
  struct account {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    std::string name;
    std::string home;
  };
  std::optional<account> resolved_user;

  /// Whether starting a child needs more than posix_spawn offers (a user or a limit).
  bool needs_fork() const {
    return resolved_user.has_value() || max_memory_mib != 0 || max_files != 0 || max_cpu_seconds != 0;
  }

  /// The environment of a child: the base this sandbox gives, then `task_env` over it.
  std::vector<std::string> environment(const std::map<std::string, std::string>& task_env) const;

  /// One line for the log and the start event, e.g. "env: PATH +HOME, user nobody, max-files 64".
  std::string describe() const;
};

} // namespace fleet
