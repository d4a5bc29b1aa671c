-- Instance-wide settings an administrator changes while Madang runs
-- (PostgreSQL dialect; keep in step with migrations/sqlite). Today: which
-- modules are on (`module.calendar` = `on`/`off`, see src/modules.rs). A
-- missing row means the built-in default, so an upgraded database needs no
-- rows, and a default changed by a later release reaches every instance that
-- never chose. Every process re-reads the table (at most a second old), so a
-- change made through one process reaches the others without a restart.
CREATE TABLE instance_settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
