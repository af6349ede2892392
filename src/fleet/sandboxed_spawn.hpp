#pragma once

// Starting a program as another user or under resource limits, which posix_spawn cannot do: fork,
// then only async-signal-safe calls in the child until execve.

#include <caf/expected.hpp>

#include <sys/types.h>

#include <string>

namespace fleet {

struct child_sandbox;

/// Whether a spawn that failed with `code` would fail the same way every time (not found, not
/// executable, arguments too long), unlike a lack of processes, memory or descriptors.
bool can_never_start(int code);

/// Where `name` is: as written if it holds a slash, else the first executable regular file of
/// that name in fleetd's PATH (as posix_spawnp looks). errc::invalid_task if there is none.
caf::expected<std::string> find_program(const std::string& name);

/// Starts `path` with `argv` and `envp` in a process group of its own, with fds 0, 1 and 2 from
/// `in_fd`, `out_fd` and `err_fd`, the default signal mask and dispositions, in `sandbox`'s
/// directory, under its limits, as its user. An error says which step failed; errc::invalid_task
/// when the program can never start (as spawn_child's).
caf::expected<pid_t> sandboxed_spawn(const std::string& path, char* const* argv, char* const* envp, int in_fd,
                                     int out_fd, int err_fd, const child_sandbox& sandbox);

} // namespace fleet
