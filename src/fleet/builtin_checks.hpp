#pragma once

// What the built-in task types accept as data: checked at submit, before anything is stored, so a
// batch with one bad task is refused whole. No actor headers: fleetctl and the fuzzers use them too.

#include <caf/error.hpp>
#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <vector>

namespace fleet {

/// `sleep`: {"ms": N}, 0 <= N <= one week.
caf::error check_sleep_data(const nlohmann::json& data);

/// `fail`: an object; "times" an integer >= 0, "error" a string, both optional.
caf::error check_fail_data(const nlohmann::json& data);

/// `exec`: {"argv": [program, args...], "timeout_ms": N, "env": {NAME: value}}, no NUL bytes in
/// any string; the program must be in `allow` (std::nullopt: any program; empty: none). `env` may
/// not set a variable that changes what runs (see `changes_what_runs`) unless `env_allow` names
/// it (fleet.exec-env-allow).
caf::error check_exec_data(const nlohmann::json& data, const std::optional<std::vector<std::string>>& allow,
                           const std::vector<std::string>& env_allow = {});

/// Whether setting environment variable `name` can make an allowed program run other code than
/// its own: the dynamic loader's variables (LD_*), those glibc removes for set-user-ID programs,
/// PATH and HOME, and the start-up and module-path variables of shells and common interpreters.
bool changes_what_runs(const std::string& name);

} // namespace fleet
