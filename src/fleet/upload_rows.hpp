#pragma once

#include <caf/error.hpp>

struct sqlite3;

namespace fleet {

/// Registers the table-valued function `upload_rows(body)` on a connection. It yields a staged
/// part's tasks in order as (position, id, type, data, priority, run_at, delay_ms, the policy's
/// timeout_ms, max_retries, backoff_ms and retry (NULL where the fleet's applies), after (the ids
/// it runs after as a JSON array, NULL if none), queue ("default" if none), task_group (NULL if
/// none)), from the binary body of fleet/upload_part.hpp;
/// a damaged body fails the statement that reads it:
///   SELECT c.first + t.position, t.id FROM upload_parts c, upload_rows(c.body) t
caf::error register_upload_rows(sqlite3* db);

} // namespace fleet
