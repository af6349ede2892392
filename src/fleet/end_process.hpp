#pragma once

namespace fleet {

/// Flushes the log and stdio and ends the process at once with `code`, running no destructor:
/// CAF 0.17's ~actor_system can wait forever after remote peers talked to it. Other threads may
/// go on running, and logging, until the end. In a build with AddressSanitizer, LeakSanitizer
/// checks first (an exit like this skips its check at exit) and ends the process with its own
/// code on a leak.
[[noreturn]] void end_process(int code);

} // namespace fleet
