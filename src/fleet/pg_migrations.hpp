#pragma once

#include "fleet/migration.hpp"
#include "fleet/pg.hpp"

#include <vector>

namespace fleet {

/// Every PostgreSQL migration in version order (generated from schema/postgres/ at build time).
const std::vector<migration>& postgres_migrations();

/// The mark in fleetd_schema.application of a fleetd database.
inline constexpr const char* postgres_application = "fleetd";

/// Brings the schema that `db`'s search_path names first (`public` unless the connection string
/// sets `options=-csearch_path=...`) to the latest version, in one transaction (PostgreSQL's DDL
/// is transactional) under an advisory lock, so that fleetd processes starting together migrate
/// once. Refuses a schema newer than this program (`errc::schema_too_new`) and one that holds
/// tables but is not fleetd's (`errc::not_a_fleet_db`); on error nothing is changed.
caf::error migrate(pg::connection& db, const std::vector<migration>& steps = postgres_migrations());

} // namespace fleet
