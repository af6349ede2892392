#include "fleet/strict_config.hpp"

#include "fleetd/error.hpp"
#include "fleet/parse_number.hpp"
#include "fleet/time_text.hpp"

#include <caf/config_option_adder.hpp>
#include <caf/settings.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <regex>
#include <sstream>
#include <string_view>

namespace fleet {

namespace {

/// A duration option's value in ms: a duration text, an integer of ms, or CAF's own timespan (it
/// reads an unquoted 10s itself); none for anything else or a negative value.
std::optional<int64_t> duration_ms_of(const caf::config_value& value) {
  if (auto text = caf::get_if<std::string>(&value))
    return parse_duration_ms(*text);
  if (auto ms = caf::get_if<int64_t>(&value); ms && *ms >= 0)
    return *ms;
  if (auto span = caf::get_if<caf::timespan>(&value); span && span->count() >= 0)
    return std::chrono::duration_cast<std::chrono::milliseconds>(*span).count();
  return std::nullopt;
}

const char* kind_name(value_kind k) {
  switch (k) {
    case value_kind::integer: return "an integer";
    case value_kind::real: return "a number";
    case value_kind::boolean: return "true or false";
    case value_kind::text: return "a quoted string";
    case value_kind::duration: return "a duration such as \"30s\", \"10m\" or \"7d\" (or an integer of ms)";
  }
  return "a value";
}

/// CAF's parser errors read `parser_error(unexpected_character, ({"column" = 5, "line" = 2}))`:
/// keep the kind and the position, drop the wrapping.
std::string render_caf_error(const caf::error& err) {
  auto text = caf::to_string(err);
  std::smatch m;
  static const std::regex kind{R"re(^parser_error\((\w+))re"};
  static const std::regex column{R"re("column" = (\d+))re"};
  static const std::regex line{R"re("line" = (\d+))re"};
  static const std::regex argument{R"re("argument" = "([^"]*)")re"};
  if (!std::regex_search(text, m, kind))
    return text;
  auto out = m[1].str();
  std::replace(out.begin(), out.end(), '_', ' ');
  if (std::regex_search(text, m, argument))
    return fmt::format("{} in {}", out, m[1].str());
  std::string where;
  if (std::regex_search(text, m, line))
    where = "line " + m[1].str();
  if (std::regex_search(text, m, column))
    where += (where.empty() ? "column " : ", column ") + m[1].str();
  return where.empty() ? out : fmt::format("{}: {}", where, out);
}

} // namespace

caf::error config_error(std::string text) {
  return caf::make_error(errc::invalid_config, std::move(text));
}

namespace {

/// Names option `name` (in full) if `value` lies outside lo..hi, else none.
caf::error check_range(std::string_view name, int64_t value, int64_t lo, int64_t hi, const char* unit = "") {
  if (value >= lo && value <= hi)
    return caf::none;
  return config_error(fmt::format("{} must be between {} and {}{} (got {})", name, lo, hi, unit, value));
}

} // namespace

caf::error string_list(const caf::config_value& value, const std::string& what, const char* example,
                       std::vector<std::string>& out) {
  auto list = caf::get_if<caf::config_value::list>(&value);
  if (!list)
    return config_error(fmt::format("{} must be a list of strings, e.g. {}", what, example));
  out.clear();
  for (const auto& x : *list) {
    auto s = caf::get_if<std::string>(&x);
    if (!s)
      return config_error(fmt::format("{} must be a list of strings (got {})", what, caf::to_string(x)));
    out.push_back(*s);
  }
  return caf::none;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos)
      end = text.size();
    auto item = text.substr(start, end - start);
    auto first = item.find_first_not_of(" \t");
    auto last = item.find_last_not_of(" \t");
    if (first != std::string::npos)
      out.push_back(item.substr(first, last - first + 1));
    start = end + 1;
  }
  return out;
}

strict_config::strict_config(std::string section, std::vector<option_spec> specs, std::string usage,
                             std::string footer)
  : section_(std::move(section)), specs_(std::move(specs)), usage_(std::move(usage)), footer_(std::move(footer)) {
  // Declared so that CAF's --long-help and --dump-config list them; values are checked by `load_options`.
  // CAF 0.17's string_view takes a plain const char* only when built by g++ (clang: the fuzzers).
  auto view = [](const char* text) { return caf::string_view{text, std::strlen(text)}; };
  caf::config_option_adder group{custom_options_, caf::string_view{section_.data(), section_.size()}};
  for (const auto& spec : specs_) {
    auto name = view(spec.name);
    auto help = view(spec.help);
    switch (spec.kind) {
      case value_kind::integer: group.add<int64_t>(name, help); break;
      case value_kind::real: group.add<double>(name, help); break;
      case value_kind::boolean: group.add<bool>(name, help); break;
      case value_kind::text: group.add<std::string>(name, help); break;
      case value_kind::duration: group.add<std::string>(name, help); break; // "30s", or ms
    }
  }
}

const option_spec* strict_config::find(const std::string& name) const {
  for (const auto& spec : specs_)
    if (name == spec.name)
      return &spec;
  return nullptr;
}

std::string strict_config::known_options() const {
  std::string out;
  for (const auto& spec : specs_)
    out += (out.empty() ? "" : ", ") + std::string{spec.name};
  return out;
}

std::string strict_config::help_text() const {
  auto out = usage_;
  for (const auto& spec : specs_)
    out += fmt::format("  --{}.{:<20} {}\n", section_, spec.name, spec.help);
  return out + footer_;
}

caf::expected<caf::config_value> strict_config::parse_cli_value(const option_spec& spec,
                                                                const std::string& text) const {
  auto bad = [&] {
    return config_error(fmt::format("--{}.{} must be {} (got \"{}\")", section_, spec.name,
                                    spec.kind == value_kind::text ? "text" : kind_name(spec.kind), text));
  };
  switch (spec.kind) {
    case value_kind::text:
      return caf::config_value{text};
    case value_kind::boolean:
      if (text == "true")
        return caf::config_value{true};
      if (text == "false")
        return caf::config_value{false};
      return bad();
    case value_kind::integer:
      if (auto x = parse_integer(text))
        return caf::config_value{*x};
      return bad();
    case value_kind::real:
      if (auto x = parse_real(text))
        return caf::config_value{*x};
      return bad();
    case value_kind::duration:
      if (auto x = parse_duration_ms(text))
        return caf::config_value{*x};
      if (auto x = parse_integer(text); x && *x >= 0)
        return caf::config_value{*x};
      return bad();
  }
  return bad();
}

caf::error strict_config::check_kind(const option_spec& spec, const caf::config_value& value,
                                     const std::string& where) const {
  bool ok = false;
  switch (spec.kind) {
    case value_kind::integer: ok = caf::holds_alternative<int64_t>(value); break;
    case value_kind::real:
      ok = caf::holds_alternative<double>(value) || caf::holds_alternative<int64_t>(value);
      break;
    case value_kind::boolean: ok = caf::holds_alternative<bool>(value); break;
    case value_kind::text: ok = caf::holds_alternative<std::string>(value); break;
    case value_kind::duration: ok = duration_ms_of(value).has_value(); break;
  }
  if (ok)
    return caf::none;
  return config_error(fmt::format("{}: {}.{} must be {} (got {})", where, section_, spec.name,
                                  kind_name(spec.kind), caf::to_string(value)));
}

caf::error strict_config::take(const std::string& name, const caf::config_value& value,
                               const std::string& where) {
  auto spec = find(name);
  if (!spec)
    return config_error(fmt::format("{}: unknown option {}.{} (known: {})", where, section_, name, known_options()));
  if (auto err = check_kind(*spec, value, where))
    return err;
  // A duration is kept as ms, whichever way it was written (check_kind accepted it).
  values_[name] = spec->kind == value_kind::duration ? caf::config_value{*duration_ms_of(value)} : value;
  return caf::none;
}

caf::error strict_config::read_config_file(const std::string& path) {
  // Every section's keys and types are checked: CAF 0.17 would silently keep defaults for unknown
  // keys and wrong types.
  auto raw = caf::actor_system_config::parse_config_file(path.c_str());
  if (!raw) {
    if (raw.error() == caf::sec::cannot_open_file)
      return config_error(fmt::format("cannot read config file {}", path));
    return config_error(fmt::format("{} {} (strings must be quoted)", path, render_caf_error(raw.error())));
  }
  for (const auto& [section, content] : *raw) {
    auto entries = caf::get_if<caf::settings>(&content);
    if (!entries)
      return config_error(fmt::format("{}: {} is outside of a [section]", path, section));
    if (std::find(groups_.begin(), groups_.end(), section) != groups_.end()) {
      if (auto err = take_group(section, *entries, path))
        return err;
      continue;
    }
    for (const auto& [key, value] : *entries) {
      if (section == section_) {
        if (auto err = take(key, value, path))
          return err;
        continue;
      }
      auto opt = custom_options_.qualified_name_lookup(section, key);
      if (!opt)
        return config_error(fmt::format("{}: unknown option {}.{}", path, section, key));
      if (auto err = opt->check(value))
        return config_error(fmt::format("{}: {}.{} must be of type {} (got {})", path, section, key,
                                        std::string{opt->type_name().data(), opt->type_name().size()},
                                        caf::to_string(value)));
    }
  }
  return caf::none;
}

caf::error strict_config::take_group(const std::string&, const caf::settings&, const std::string&) {
  return caf::none;
}

caf::error strict_config::load_options(int argc, char** argv) {
  std::vector<std::string> caf_args;
  std::vector<std::pair<std::string, std::string>> overrides; // --SECTION.NAME=VALUE, in order
  std::string file;
  auto prefix = "--" + section_ + ".";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested = true;
      return caf::none;
    }
    if (arg.rfind(prefix, 0) == 0) {
      auto body = arg.substr(prefix.size());
      auto eq = body.find('=');
      auto name = body.substr(0, eq);
      auto spec = find(name);
      if (!spec)
        return config_error(fmt::format("unknown option {}{} (known: {})", prefix, name, known_options()));
      if (eq == std::string::npos) {
        if (spec->kind != value_kind::boolean)
          return config_error(fmt::format("{}{} needs a value: {}{}=VALUE", prefix, name, prefix, name));
        overrides.emplace_back(name, "true");
      } else {
        overrides.emplace_back(name, body.substr(eq + 1));
      }
      continue;
    }
    if (arg.rfind("--config-file=", 0) == 0)
      file = arg.substr(14);
    else if (arg == "--config-file")
      return config_error("--config-file needs a value: --config-file=FILE");
    caf_args.push_back(std::move(arg));
  }
  if (!file.empty()) {
    if (auto err = read_config_file(file))
      return err;
    source = file;
  }
  for (const auto& [name, text] : overrides) {
    auto value = parse_cli_value(*find(name), text);
    if (!value)
      return value.error();
    values_[name] = std::move(*value);
  }
  if (!overrides.empty())
    source += " with command-line overrides";
  // CAF reads its own sections of the file and its own command-line options. Without a file,
  // it gets an empty one rather than looking for caf-application.ini.
  std::istringstream empty;
  auto err = file.empty() ? parse(caf_args, empty) : parse(caf_args);
  if (err)
    return config_error(fmt::format("bad command line or config file: {} (see --help)", render_caf_error(err)));
  if (cli_helptext_printed) {
    help_requested = true;
    return caf::none;
  }
  // CAF 0.17 takes any count and then waits forever: with no scheduler thread nothing runs, not
  // even the shutdown on SIGTERM.
  if (auto threads = caf::get_if<int64_t>(&content, "scheduler.max-threads"))
    if (auto err = check_range("scheduler.max-threads", *threads, 1, 1024))
      return err;
  // An idle thread waits this long between looks at the others' work: 0 would spin on a core.
  if (auto wait = caf::get_if<caf::timespan>(&content, "work-stealing.relaxed-sleep-duration");
      wait && wait->count() <= 0)
    return config_error("work-stealing.relaxed-sleep-duration must be above 0, e.g. 1ms");
  return apply();
}

void strict_config::text(const char* name, std::string& out) const {
  if (auto i = values_.find(name); i != values_.end())
    out = caf::get<std::string>(i->second);
}

void strict_config::integer(const char* name, int64_t& out) const {
  if (auto i = values_.find(name); i != values_.end())
    out = caf::get<int64_t>(i->second);
}

void strict_config::duration(const char* name, int64_t& out_ms) const {
  integer(name, out_ms); // stored as ms by take() and parse_cli_value()
}

void strict_config::boolean(const char* name, bool& out) const {
  if (auto i = values_.find(name); i != values_.end())
    out = caf::get<bool>(i->second);
}

void strict_config::real(const char* name, double& out) const {
  if (auto i = values_.find(name); i != values_.end())
    out = caf::holds_alternative<double>(i->second) ? caf::get<double>(i->second)
                                                    : static_cast<double>(caf::get<int64_t>(i->second));
}

caf::error strict_config::range(const char* name, int64_t value, int64_t lo, int64_t hi, const char* unit) const {
  return check_range(section_ + "." + name, value, lo, hi, unit);
}

} // namespace fleet
