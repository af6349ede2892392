#include "fleet/migrations.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

namespace fleet {

namespace {

/// Every step after `from` and the new version, in one transaction that commits all or nothing.
caf::error run_steps(sqlite::database& db, const std::vector<migration>& steps, int64_t from, int latest) {
  sqlite::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  for (const auto& step : steps) {
    if (step.version <= from)
      continue;
    if (auto err = db.exec(step.sql))
      return caf::make_error(errc::database_error,
                             fmt::format("migration {} failed: {}", step.name, error_text(err)));
  }
  auto violations = db.query_int("SELECT count(*) FROM pragma_foreign_key_check");
  if (!violations)
    return violations.error();
  if (*violations > 0)
    return caf::make_error(errc::database_error,
                           fmt::format("migrating to schema version {} would leave {} rows whose foreign key "
                                       "names no row: nothing was changed",
                                       latest, *violations));
  if (auto err = db.exec(fmt::format("PRAGMA application_id = {}; PRAGMA user_version = {}",
                                     application_id, latest)))
    return err;
  return tx.commit();
}

} // namespace

int latest_schema_version() {
  return migrations().empty() ? 0 : migrations().back().version;
}

caf::error migrate(sqlite::database& db, const std::vector<migration>& steps) {
  auto latest = steps.empty() ? 0 : steps.back().version;
  // Reading the header is the first access: a file that is not SQLite fails here.
  auto app_id = db.query_int("PRAGMA application_id");
  if (!app_id)
    return app_id.error();
  auto version = db.query_int("PRAGMA user_version");
  if (!version)
    return version.error();
  if (*app_id == development_application_id)
    return caf::make_error(errc::not_a_fleet_db,
                           "the database file was written by a development build of fleetd, before "
                           "its first release: delete it (and its -wal and -shm files) and start again");
  if (*app_id != 0 && *app_id != application_id)
    return caf::make_error(errc::not_a_fleet_db, "the database file belongs to another application");
  if (*app_id == 0) {
    auto objects = db.query_int("SELECT count(*) FROM sqlite_schema");
    if (!objects)
      return objects.error();
    if (*objects > 0)
      return caf::make_error(errc::not_a_fleet_db,
                             "the database file holds tables but is not a fleetd database");
  }
  if (*version > latest)
    return caf::make_error(errc::schema_too_new,
                           fmt::format("database schema version {} is newer than this fleetd "
                                       "(supports up to {}): upgrade fleetd",
                                       *version, latest));
  if (*version == latest)
    return caf::none;
  // Only a file without tables can take it, and only outside a write transaction.
  if (*version == 0)
    if (auto err = db.exec("PRAGMA auto_vacuum = INCREMENTAL"))
      return err;
  // A migration that rebuilds a table drops it while other tables still refer to it: foreign keys
  // are off for the transaction (they cannot change inside one) and checked before its commit, as
  // the SQLite manual's procedure for table changes says.
  auto foreign_keys = db.query_int("PRAGMA foreign_keys");
  if (!foreign_keys)
    return foreign_keys.error();
  if (auto err = db.exec("PRAGMA foreign_keys = OFF"))
    return err;
  auto err = run_steps(db, steps, *version, latest);
  if (auto restored = db.exec(fmt::format("PRAGMA foreign_keys = {}", *foreign_keys)); restored && !err)
    return restored;
  return err;
}

} // namespace fleet
