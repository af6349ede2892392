#include "actors/exception_guard.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace fleet {

caf::error report_handler_exception(const std::string& message, std::exception_ptr what) {
  auto text = exception_text(what);
  spdlog::error("internal error: handling {} threw {}; fleetd goes on, and a request gets an error", message,
                text);
  return caf::make_error(errc::internal_error,
                         fmt::format("fleetd failed while handling {}: {} (see its log)", message, text));
}

} // namespace fleet
