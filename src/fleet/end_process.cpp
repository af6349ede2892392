#include "fleet/end_process.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

namespace fleet {

void end_process(int code) {
  // Not spdlog::shutdown(): it destroys the logger under any thread still logging.
  if (auto* logger = spdlog::default_logger_raw())
    logger->flush();
  std::fflush(nullptr);
#ifdef __SANITIZE_ADDRESS__
  __lsan_do_leak_check(); // only when detect_leaks is on
#endif
  std::_Exit(code);
}

} // namespace fleet
