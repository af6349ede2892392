#pragma once

#include <caf/error.hpp>

struct sqlite3;

namespace fleet {

/// Registers the table-valued function `upload_rows(body)` on a connection. It yields a staged
/// part's tasks in order as (position, id, type, data, priority), from the binary body of
/// fleet/upload_part.hpp or from a JSON body staged by schema 12; a damaged body fails the
/// statement that reads it:
///   SELECT c.first + t.position, t.id FROM upload_parts c, upload_rows(c.body) t
caf::error register_upload_rows(sqlite3* db);

} // namespace fleet
