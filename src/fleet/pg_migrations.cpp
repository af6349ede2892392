#include "fleet/pg_migrations.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

namespace fleet {

namespace {

/// pg_advisory_xact_lock's key for migrations: "FLTM".
constexpr int64_t migration_lock = 0x464C544D;

caf::expected<int64_t> version_before(pg::connection& db, int latest) {
  auto marked = db.query_int("SELECT count(*) FROM pg_catalog.pg_tables"
                             " WHERE schemaname = current_schema() AND tablename = 'fleetd_schema'");
  if (!marked)
    return marked.error();
  if (*marked == 0) {
    auto tables = db.query_int("SELECT count(*) FROM pg_catalog.pg_class c"
                               " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                               " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
                               // An extension's views (pg_stat_statements in public) are not a user's tables.
                               " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid ="
                               " 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')");
    if (!tables)
      return tables.error();
    if (*tables > 0) {
      auto schema = db.query("SELECT current_schema()");
      return caf::make_error(errc::not_a_fleet_db,
                             fmt::format("the schema \"{}\" of {} holds {} tables or views but is not fleetd's: "
                                         "point fleet.postgres at an empty database or schema",
                                         schema ? schema->text(0, 0) : "?", db.where().text(), *tables));
    }
    return int64_t{0};
  }
  auto mark = db.query("SELECT application, version FROM fleetd_schema WHERE id = 1");
  if (!mark)
    return mark.error();
  if (mark->rows() != 1 || mark->text(0, 0) != postgres_application)
    return caf::make_error(errc::not_a_fleet_db,
                           fmt::format("{} has a fleetd_schema table that is not fleetd's mark", db.where().text()));
  auto version = mark->int64(0, 1);
  if (!version)
    return version.error();
  if (*version > latest)
    return caf::make_error(errc::schema_too_new,
                           fmt::format("the PostgreSQL schema version {} is newer than this fleetd (supports up "
                                       "to {}): upgrade fleetd",
                                       *version, latest));
  return *version;
}

} // namespace

caf::error migrate(pg::connection& db, const std::vector<migration>& steps) {
  auto latest = steps.empty() ? 0 : steps.back().version;
  pg::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  if (auto locked = db.query("SELECT pg_advisory_xact_lock($1)", int64_t{migration_lock}); !locked)
    return locked.error();
  auto from = version_before(db, latest);
  if (!from)
    return from.error();
  if (*from == latest)
    return tx.commit();
  for (const auto& step : steps) {
    if (step.version <= *from)
      continue;
    if (auto err = db.exec(step.sql))
      return caf::make_error(errc::database_error,
                             fmt::format("PostgreSQL migration {} failed: {}", step.name, error_text(err)));
  }
  auto marked = db.query("INSERT INTO fleetd_schema (id, application, version) VALUES (1, $1, $2)"
                         " ON CONFLICT (id) DO UPDATE SET version = $2",
                         postgres_application, int64_t{latest});
  if (!marked)
    return marked.error();
  return tx.commit();
}

} // namespace fleet
