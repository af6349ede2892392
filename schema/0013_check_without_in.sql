-- The state and outcome CHECKs said `x IN ('a', 'b', ...)`. SQLite builds a temporary b-tree for
-- such a list each time a statement runs, so every single-row INSERT or UPDATE of a task or attempt
-- paid for one: about a third of the writer's time per task (docs/BENCHMARKS.md). The same rules
-- as OR chains cost a few comparisons.
--
-- SQLite 3.40 cannot ALTER a CHECK, and rebuilding `tasks` would copy every row. A CHECK is not
-- part of the stored rows, so the table's CREATE statement is rewritten in place, as the SQLite
-- documentation describes for constraint changes (lang_altertable.html, "Making Other Kinds Of
-- Table Schema Changes"); every stored row satisfies the new rule, which is the old one. fleetd
-- raises the schema cookie after its migrations, so other connections read the new text.
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql,
  'CHECK (state IN (''pending'',''running'',''retry_wait'',''succeeded'',''failed'',''cancelled''))',
  'CHECK (state = ''pending'' OR state = ''running'' OR state = ''retry_wait'''
  || ' OR state = ''succeeded'' OR state = ''failed'' OR state = ''cancelled'')')
WHERE type = 'table' AND name = 'tasks';

UPDATE sqlite_schema
SET sql = replace(sql,
  'CHECK (outcome IN (''succeeded'',''failed'',''timed_out'',''cancelled'',''interrupted''))',
  'CHECK (outcome = ''succeeded'' OR outcome = ''failed'' OR outcome = ''timed_out'''
  || ' OR outcome = ''cancelled'' OR outcome = ''interrupted'')')
WHERE type = 'table' AND name = 'attempts';

PRAGMA writable_schema = RESET;

-- Both rewrites must have matched: otherwise this fails and the migration rolls back.
CREATE TEMP TABLE migration_13_check (rewritten INTEGER CHECK (rewritten = 2));
INSERT INTO migration_13_check
  SELECT count(*) FROM sqlite_schema
  WHERE (name = 'tasks' AND sql LIKE '%CHECK (state = ''pending'' OR %' AND sql NOT LIKE '%state IN (%')
     OR (name = 'attempts' AND sql LIKE '%CHECK (outcome = ''succeeded'' OR %' AND sql NOT LIKE '%outcome IN (%');
DROP TABLE migration_13_check;
