"""The SQL the check runs on every node: read-only, and valid on a primary and a standby alike."""

from __future__ import annotations

# One round trip for what every node can say about itself. The CASE keeps pg_walfile_name()
# (refused during recovery) to primaries; a standby reports the timeline it receives.
NODE = """
SELECT pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery()
            THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),
                          (SELECT timeline_id FROM pg_control_checkpoint()))
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
       END AS timeline,
       (SELECT system_identifier FROM pg_control_system())::text AS system_identifier,
       current_setting('server_version') AS server_version,
       (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS tls,
       host(inet_server_addr()) AS server_addr,
       inet_server_port() AS server_port,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS reserved_connections,
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'client backend')::int AS connections_in_use,
       current_setting('hot_standby_feedback')::bool AS hot_standby_feedback,
       (SELECT setting::int FROM pg_settings
         WHERE name = 'max_standby_streaming_delay') AS max_standby_streaming_delay_ms,
       (SELECT setting::int FROM pg_settings
         WHERE name = 'recovery_min_apply_delay') AS apply_delay_ms,
       (SELECT setting::int FROM pg_settings WHERE name = 'wal_keep_size') AS wal_keep_size_mb,
       -- Hidden (NULL) for roles without pg_read_all_settings: the rules then say "unknown".
       (SELECT setting FROM pg_settings WHERE name = 'primary_conninfo') AS primary_conninfo,
       (SELECT nullif(setting, '') FROM pg_settings
         WHERE name = 'primary_slot_name') AS primary_slot_name,
       ((CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
              ELSE pg_current_wal_insert_lsn() END) - '0/0'::pg_lsn)::bigint AS lsn
"""

# Whom a standby streams from right now; no row on a primary, NULL columns without privileges.
WAL_RECEIVER = """
SELECT status, sender_host, sender_port FROM pg_stat_wal_receiver
"""

SLOTS = "SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical'"

# The tables that exist, and which of what the API does to them this role may not do.
TABLES = """
SELECT t,
       array_remove(ARRAY[
           CASE WHEN has_table_privilege(t, 'SELECT') THEN NULL ELSE 'SELECT' END,
           CASE WHEN has_table_privilege(t, 'INSERT') THEN NULL ELSE 'INSERT' END,
           CASE WHEN has_table_privilege(t, 'UPDATE') THEN NULL ELSE 'UPDATE' END
       ], NULL) AS missing
FROM unnest($1::text[]) AS t
WHERE to_regclass(t) IS NOT NULL
"""

ALEMBIC = "SELECT version_num FROM alembic_version ORDER BY version_num"

PID = "SELECT pg_backend_pid()"
