#include "fleet/log.hpp"

#include "fleetd/error.hpp"
#include "fleet/text.hpp"

#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <string_view>

namespace fleet {

namespace {

/// Makes every message printable before the real sink sees it: ids, errors and program output
/// come from clients, and a newline or an escape sequence in one must not forge a line of the log
/// or drive the terminal that shows it.
class printable_sink final : public spdlog::sinks::sink {
public:
  explicit printable_sink(spdlog::sink_ptr inner) : inner_(std::move(inner)) {}

  void log(const spdlog::details::log_msg& msg) override {
    std::string_view payload{msg.payload.data(), msg.payload.size()};
    if (plain(payload)) {
      inner_->log(msg);
      return;
    }
    auto shown = printable(payload);
    auto copy = msg;
    copy.payload = spdlog::string_view_t{shown.data(), shown.size()};
    inner_->log(copy);
  }

  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

private:
  static bool plain(std::string_view s) {
    for (unsigned char c : s)
      if (c < 0x20 || c >= 0x7f)
        return false;
    return true;
  }

  spdlog::sink_ptr inner_;
};

} // namespace

caf::error init_logging(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return caf::make_error(errc::invalid_config,
                           "log level must be trace, debug, info, warn, error or off (got \"" + level + "\")");
  auto sink = std::make_shared<printable_sink>(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  auto logger = std::make_shared<spdlog::logger>("fleetd", std::move(sink));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
  return caf::none;
}

} // namespace fleet
