#include "fleetd/fleet_config.hpp"

#include "fleetd/error.hpp"
#include "fleet/parse_number.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>

#include <climits>
#include <cmath>

namespace fleet {

namespace {

using config_bounds::max_workers;
constexpr auto max_timeout_ms = config_bounds::max_duration_ms;
constexpr auto max_retry_count = config_bounds::max_retries;

caf::error out_of_range(const char* field, auto value, const char* rule) {
  return caf::make_error(errc::invalid_config, fmt::format("{} must be {} (got {})", field, rule, value));
}

} // namespace

bool operator==(const fleet_config& x, const fleet_config& y) {
  return x.max_concurrent_workers == y.max_concurrent_workers
         && x.worker_timeout_ms == y.worker_timeout_ms
         && x.retry_failed_tasks == y.retry_failed_tasks && x.max_retries == y.max_retries
         && x.backoff_base_ms == y.backoff_base_ms && x.backoff_factor == y.backoff_factor
         && x.backoff_cap_ms == y.backoff_cap_ms;
}

caf::error validate_worker_count(int64_t n) {
  if (n < 1)
    return caf::make_error(errc::invalid_config, fmt::format("worker count must be at least 1 (got {})", n));
  if (n > max_workers)
    return caf::make_error(errc::invalid_config,
                           fmt::format("worker count must be at most {} (got {})", max_workers, n));
  return caf::none;
}

caf::error validate(const fleet_config& cfg) {
  if (auto err = validate_worker_count(cfg.max_concurrent_workers))
    return caf::make_error(errc::invalid_config,
                           "max_concurrent_workers: " + error_text(err));
  if (cfg.worker_timeout_ms < 1 || cfg.worker_timeout_ms > max_timeout_ms)
    return out_of_range("worker_timeout", cfg.worker_timeout_ms, "between 1 and 604800000 ms");
  if (cfg.max_retries < 0 || cfg.max_retries > max_retry_count)
    return out_of_range("max_retries", cfg.max_retries, "between 0 and 1000");
  if (cfg.backoff_base_ms < 0 || cfg.backoff_base_ms > max_timeout_ms)
    return out_of_range("backoff_base", cfg.backoff_base_ms, "between 0 and 604800000 ms");
  if (!std::isfinite(cfg.backoff_factor) || cfg.backoff_factor < config_bounds::min_backoff_factor
      || cfg.backoff_factor > config_bounds::max_backoff_factor)
    return out_of_range("backoff_factor", cfg.backoff_factor, "between 1 and 100");
  if (cfg.backoff_cap_ms < cfg.backoff_base_ms || cfg.backoff_cap_ms > max_timeout_ms)
    return out_of_range("backoff_cap", cfg.backoff_cap_ms, "at least backoff_base and at most 604800000 ms");
  return caf::none;
}

caf::expected<fleet_config> apply(fleet_config cfg, const config_update& update) {
  if (update.max_concurrent_workers)
    cfg.max_concurrent_workers = *update.max_concurrent_workers;
  if (update.worker_timeout_ms)
    cfg.worker_timeout_ms = *update.worker_timeout_ms;
  if (update.retry_failed_tasks)
    cfg.retry_failed_tasks = *update.retry_failed_tasks;
  if (update.max_retries)
    cfg.max_retries = *update.max_retries;
  if (update.backoff_base_ms)
    cfg.backoff_base_ms = *update.backoff_base_ms;
  if (update.backoff_factor)
    cfg.backoff_factor = *update.backoff_factor;
  if (update.backoff_cap_ms)
    cfg.backoff_cap_ms = *update.backoff_cap_ms;
  if (auto err = validate(cfg))
    return err;
  return cfg;
}

} // namespace fleet

namespace fleet {

namespace {

enum class field_kind { integer, real, boolean };

struct field_def {
  config_field names;
  field_kind kind;
  // Pointers to the field in both structs; exactly one of the three pairs is used per kind.
  int32_t fleet_config::*i32 = nullptr;
  caf::optional<int32_t> config_update::*u_i32 = nullptr;
  int64_t fleet_config::*i64 = nullptr;
  caf::optional<int64_t> config_update::*u_i64 = nullptr;
  double fleet_config::*real = nullptr;
  caf::optional<double> config_update::*u_real = nullptr;
  bool fleet_config::*boolean = nullptr;
  caf::optional<bool> config_update::*u_boolean = nullptr;
};

const std::vector<field_def>& field_defs() {
  static const std::vector<field_def> defs = [] {
    std::vector<field_def> out;
    auto i32 = [&](const char* n, const char* o, auto f, auto u) {
      field_def d{{n, o}, field_kind::integer};
      d.i32 = f;
      d.u_i32 = u;
      out.push_back(d);
    };
    auto i64 = [&](const char* n, const char* o, auto f, auto u) {
      field_def d{{n, o}, field_kind::integer};
      d.i64 = f;
      d.u_i64 = u;
      out.push_back(d);
    };
    i32("max_concurrent_workers", "max-workers", &fleet_config::max_concurrent_workers,
        &config_update::max_concurrent_workers);
    i64("worker_timeout_ms", "worker-timeout", &fleet_config::worker_timeout_ms,
        &config_update::worker_timeout_ms);
    field_def retry{{"retry_failed_tasks", "retry-failed-tasks"}, field_kind::boolean};
    retry.boolean = &fleet_config::retry_failed_tasks;
    retry.u_boolean = &config_update::retry_failed_tasks;
    out.push_back(retry);
    i32("max_retries", "max-retries", &fleet_config::max_retries, &config_update::max_retries);
    i64("backoff_base_ms", "backoff-base", &fleet_config::backoff_base_ms,
        &config_update::backoff_base_ms);
    field_def factor{{"backoff_factor", "backoff-factor"}, field_kind::real};
    factor.real = &fleet_config::backoff_factor;
    factor.u_real = &config_update::backoff_factor;
    out.push_back(factor);
    i64("backoff_cap_ms", "backoff-cap", &fleet_config::backoff_cap_ms,
        &config_update::backoff_cap_ms);
    return out;
  }();
  return defs;
}

const field_def* find_field(const std::string& name) {
  for (const auto& d : field_defs())
    if (name == d.names.name || name == d.names.option)
      return &d;
  return nullptr;
}

caf::error unknown_field(const std::string& name) {
  std::string known;
  for (const auto& d : field_defs())
    known += (known.empty() ? "" : ", ") + std::string{d.names.option};
  return caf::make_error(errc::invalid_config,
                         fmt::format("unknown setting \"{}\" (known: {})", name, known));
}

} // namespace

const std::vector<config_field>& config_fields() {
  static const std::vector<config_field> out = [] {
    std::vector<config_field> xs;
    for (const auto& d : field_defs())
      xs.push_back(d.names);
    return xs;
  }();
  return out;
}

std::vector<std::pair<config_field, config_value>> set_fields(const config_update& update) {
  std::vector<std::pair<config_field, config_value>> out;
  for (const auto& d : field_defs()) {
    if (d.u_i32 && update.*d.u_i32)
      out.emplace_back(d.names, int64_t{*(update.*d.u_i32)});
    else if (d.u_i64 && update.*d.u_i64)
      out.emplace_back(d.names, *(update.*d.u_i64));
    else if (d.u_real && update.*d.u_real)
      out.emplace_back(d.names, *(update.*d.u_real));
    else if (d.u_boolean && update.*d.u_boolean)
      out.emplace_back(d.names, *(update.*d.u_boolean));
  }
  return out;
}

caf::expected<config_value> get_field(const fleet_config& cfg, const std::string& name) {
  auto d = find_field(name);
  if (!d)
    return unknown_field(name);
  if (d->i32)
    return config_value{int64_t{cfg.*d->i32}};
  if (d->i64)
    return config_value{cfg.*d->i64};
  if (d->real)
    return config_value{cfg.*d->real};
  return config_value{cfg.*d->boolean};
}

caf::error set_field(config_update& update, const std::string& name, const config_value& value) {
  auto d = find_field(name);
  if (!d)
    return unknown_field(name);
  auto wrong_kind = [&](const char* expected) {
    return caf::make_error(errc::invalid_config, fmt::format("{} must be {} (got {})", d->names.option,
                                                             expected, to_string(value)));
  };
  switch (d->kind) {
    case field_kind::integer: {
      auto x = std::get_if<int64_t>(&value);
      if (!x)
        return wrong_kind("an integer");
      if (d->u_i32) {
        if (*x < INT32_MIN || *x > INT32_MAX)
          return wrong_kind("a 32-bit integer");
        update.*d->u_i32 = static_cast<int32_t>(*x);
      } else {
        update.*d->u_i64 = *x;
      }
      return caf::none;
    }
    case field_kind::real:
      if (auto x = std::get_if<double>(&value)) {
        if (!std::isfinite(*x)) // from a remote peer: fleetctl never sends one
          return wrong_kind("a finite number");
        update.*d->u_real = *x;
      }
      else if (auto i = std::get_if<int64_t>(&value))
        update.*d->u_real = static_cast<double>(*i);
      else
        return wrong_kind("a number");
      return caf::none;
    case field_kind::boolean:
      if (auto x = std::get_if<bool>(&value)) {
        update.*d->u_boolean = *x;
        return caf::none;
      }
      return wrong_kind("true or false");
  }
  return caf::none;
}

caf::error set_field_from_text(config_update& update, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    return caf::make_error(errc::invalid_config,
                           fmt::format("expected NAME=VALUE (got {})", quoted_input(assignment)));
  auto name = assignment.substr(0, eq);
  auto text = assignment.substr(eq + 1);
  auto d = find_field(name);
  if (!d)
    return unknown_field(name);
  // Read as the field's kind, so that an error quotes what was typed ("1e9", "inf"), not a
  // number made of it.
  auto wrong = [&](const char* expected) {
    return caf::make_error(errc::invalid_config,
                           fmt::format("{} must be {} (got {})", d->names.option, expected, quoted_input(text)));
  };
  config_value value;
  switch (d->kind) {
    case field_kind::integer:
      if (auto i = parse_integer(text))
        value = *i;
      else
        return wrong("a whole number");
      break;
    case field_kind::real:
      if (auto r = parse_real(text))
        value = *r;
      else
        return wrong("a finite decimal number");
      break;
    case field_kind::boolean:
      if (text != "true" && text != "false")
        return wrong("true or false");
      value = text == "true";
      break;
  }
  return set_field(update, name, value);
}

std::string to_string(const config_value& x) {
  if (auto b = std::get_if<bool>(&x))
    return *b ? "true" : "false";
  if (auto i = std::get_if<int64_t>(&x))
    return std::to_string(*i);
  return fmt::format("{}", std::get<double>(x));
}

} // namespace fleet
