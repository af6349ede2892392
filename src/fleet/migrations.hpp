#pragma once

#include "fleet/migration.hpp"
#include "fleet/sqlite.hpp"

#include <vector>

namespace fleet {

/// Every migration in version order (generated from schema/ at build time).
const std::vector<migration>& migrations();

/// The schema version this program writes.
int latest_schema_version();

/// Marks fleetd databases (PRAGMA application_id), so that a foreign SQLite file is refused.
inline constexpr int64_t application_id = 0x464C5431; // "FLT1"

/// The mark of databases written by development builds before the schema was squashed into one
/// file (their versions 2..16 mean other things than a release's): refused, with "delete it".
inline constexpr int64_t development_application_id = 0x464C5444; // "FLTD"

/// Brings `db` to the latest version in one transaction. Refuses a database newer than
/// this program (`errc::schema_too_new`), and a SQLite file that is not fleetd's or was written by a
/// development build (`errc::not_a_fleet_db`); on error nothing is changed.
caf::error migrate(sqlite::database& db, const std::vector<migration>& steps = migrations());

} // namespace fleet
