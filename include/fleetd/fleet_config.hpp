#pragma once

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/optional.hpp>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace fleet {

/// The bounds `validate` enforces: far from overflow, and catching unit mistakes (s vs ms). fleetd's
/// config checks use them too, to name the offending option.
namespace config_bounds {
inline constexpr int64_t max_workers = 100000;
inline constexpr int64_t max_duration_ms = int64_t{7} * 24 * 3600 * 1000;
inline constexpr int64_t max_retries = 1000;
inline constexpr double min_backoff_factor = 1.0;
inline constexpr double max_backoff_factor = 100.0;
} // namespace config_bounds

/// The live, persisted configuration of the fleet. Defaults are the seed's.
struct fleet_config {
  int32_t max_concurrent_workers = 10; ///< fleet-wide, across all batches
  int64_t worker_timeout_ms = 300000;
  bool retry_failed_tasks = true;
  int32_t max_retries = 3;
  int64_t backoff_base_ms = 1000;
  double backoff_factor = 2.0;
  int64_t backoff_cap_ms = 30000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fleet_config& x) {
  return f(caf::meta::type_name("fleet.fleet_config"), x.max_concurrent_workers,
           x.worker_timeout_ms, x.retry_failed_tasks, x.max_retries, x.backoff_base_ms,
           x.backoff_factor, x.backoff_cap_ms);
}

bool operator==(const fleet_config& x, const fleet_config& y);

/// A partial change of the configuration: unset fields keep their value (the seed's Partial<Config>).
struct config_update {
  caf::optional<int32_t> max_concurrent_workers{};
  caf::optional<int64_t> worker_timeout_ms{};
  caf::optional<bool> retry_failed_tasks{};
  caf::optional<int32_t> max_retries{};
  caf::optional<int64_t> backoff_base_ms{};
  caf::optional<double> backoff_factor{};
  caf::optional<int64_t> backoff_cap_ms{};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, config_update& x) {
  return f(caf::meta::type_name("fleet.config_update"), x.max_concurrent_workers,
           x.worker_timeout_ms, x.retry_failed_tasks, x.max_retries, x.backoff_base_ms,
           x.backoff_factor, x.backoff_cap_ms);
}

/// Checks every field's range; the error names the first bad field and its value.
caf::error validate(const fleet_config& cfg);

/// `cfg` with `update` applied, or an error (and no change) if the result is invalid.
caf::expected<fleet_config> apply(fleet_config cfg, const config_update& update);

/// One field of the configuration by name, for storage, logs and `fleetctl config set`.
/// Every field has a name (`max_concurrent_workers`, as in update_config) and the option name of
/// fleetd's config file (`max-workers`); both are accepted wherever a name is read.
using config_value = std::variant<int64_t, double, bool>;

struct config_field {
  const char* name{};   ///< update_config's name, e.g. "worker_timeout_ms"
  const char* option{}; ///< the config file option, e.g. "worker-timeout"
};

/// The fields in declaration order.
const std::vector<config_field>& config_fields();

/// The fields that `update` sets, with their values, in declaration order.
std::vector<std::pair<config_field, config_value>> set_fields(const config_update& update);

/// The value of field `name` (either spelling) in `cfg`.
caf::expected<config_value> get_field(const fleet_config& cfg, const std::string& name);

/// Sets field `name` (either spelling) of `update`; an error for an unknown name or a value of the
/// wrong kind (an integer is accepted for a real).
caf::error set_field(config_update& update, const std::string& name, const config_value& value);

/// Parses `NAME=VALUE` as typed by a person: integers, reals, true/false.
caf::error set_field_from_text(config_update& update, const std::string& assignment);

std::string to_string(const config_value& x);

/// The error scale_workers gives for n < 1.
caf::error validate_worker_count(int64_t n);

} // namespace fleet
