#pragma once

// The `[exec]` and `[pool.NAME]` keys that make a child_sandbox, and their checks.

#include "fleet/child_sandbox.hpp"

#include <caf/config_value.hpp>
#include <caf/error.hpp>
#include <caf/settings.hpp>

#include <string>

namespace fleet {

/// Reads one key of an `[exec]` or `[pool.NAME]` section into `out`: env (a list of "NAME=VALUE"),
/// pass-env (a list of names), inherit-env, user, cwd, max-memory (MiB), max-files,
/// max-cpu-seconds. `known` is false for a key that is none of these. Errors name `what`.
caf::error read_sandbox_key(const std::string& key, const caf::config_value& value, const std::string& what,
                            child_sandbox& out, bool& known);

/// The keys read_sandbox_key knows, for error messages.
inline constexpr const char* sandbox_keys =
  "env, pass-env, inherit-env, user, cwd, max-memory, max-files, max-cpu-seconds";

/// Reads a whole `[exec]` section; any other key is an error.
caf::error read_sandbox(const caf::settings& section, const std::string& where, const std::string& name,
                        child_sandbox& out);

/// Checks what only the running system can tell and fills `resolved_user`: the user exists and
/// fleetd may become it (root, or it is fleetd's own user), cwd is an absolute directory, the
/// limits do not exceed what fleetd itself may raise. `where` names the section in errors.
caf::error resolve(child_sandbox& sandbox, const std::string& where);

} // namespace fleet
