#pragma once

#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <caf/error.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fleet {

/// `duration`: "30s", "10m", "1h30m", "7d" (fleet/time_text.hpp), or an integer of ms.
enum class value_kind { integer, real, boolean, text, duration };

/// One option of a program's own section.
struct option_spec {
  const char* name;
  value_kind kind;
  const char* help;
};

/// A CAF configuration with one section of the program's own (`[SECTION]` in the file,
/// `--SECTION.NAME=VALUE` on the command line, which wins). `load_options` adds the checks CAF 0.17
/// leaves out: unknown keys and wrongly typed values in the file (in every section), booleans
/// written `=false` on the command line, and the ranges that `apply` checks.
class strict_config : public caf::actor_system_config {
public:
  /// `usage` heads the help text, `footer` ends it.
  strict_config(std::string section, std::vector<option_spec> specs, std::string usage, std::string footer);

  /// Parses the command line and the file given by `--config-file` (none: built-in defaults), then
  /// calls `apply`. Errors are one line naming the option, file and line where possible.
  caf::error load_options(int argc, char** argv);

  /// The text of `--help`: every option of the section.
  std::string help_text() const;

  bool help_requested = false;
  /// Where the configuration came from, for the start-up log.
  std::string source = "built-in defaults";

protected:
  /// Moves the values read into the program's options and checks them.
  virtual caf::error apply() = 0;

  // Readers for `apply`: each leaves `out` alone when the option was not given.
  void text(const char* name, std::string& out) const;
  void integer(const char* name, int64_t& out) const;
  void boolean(const char* name, bool& out) const;
  void real(const char* name, double& out) const; ///< an integer is a real too
  void duration(const char* name, int64_t& out_ms) const;

  /// `errc::invalid_config` unless lo <= value <= hi, naming SECTION.NAME.
  caf::error range(const char* name, int64_t value, int64_t lo, int64_t hi, const char* unit = "") const;

  const std::string& section() const { return section_; }

  /// Groups of sections of the program's own beside its section (e.g. "pool" for `[pool.NAME]`),
  /// read from the file by `take_group` (with the group's name).
  std::vector<std::string> groups_;
  virtual caf::error take_group(const std::string& name, const caf::settings& group, const std::string& where);

private:
  const option_spec* find(const std::string& name) const;
  std::string known_options() const;
  caf::expected<caf::config_value> parse_cli_value(const option_spec& spec, const std::string& text) const;
  caf::error check_kind(const option_spec& spec, const caf::config_value& value, const std::string& where) const;
  caf::error take(const std::string& name, const caf::config_value& value, const std::string& where);
  caf::error read_config_file(const std::string& path);

  std::string section_;
  std::vector<option_spec> specs_;
  std::string usage_;
  std::string footer_;
  std::map<std::string, caf::config_value> values_;
};

/// `errc::invalid_config` with `text`.
caf::error config_error(std::string text);

/// A config file's list of strings (`["a", "b"]`) into `out`; the error names `what` and shows
/// `example`.
caf::error string_list(const caf::config_value& value, const std::string& what, const char* example,
                       std::vector<std::string>& out);

/// "a, b,,c " -> {"a", "b", "c"}.
std::vector<std::string> split_list(const std::string& text);

} // namespace fleet
