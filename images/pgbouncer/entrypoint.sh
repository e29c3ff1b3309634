#!/bin/sh
# edoburu/pgbouncer's contract for what compose.yaml and the tests use: a userlist from
# DB_USER/DB_PASSWORD (the password as is: PgBouncer accepts plain text for scram-sha-256),
# and an ini that must be there already.
set -eu
ini=/etc/pgbouncer/pgbouncer.ini
if [ -n "${DB_USER:-}" ] && [ -n "${DB_PASSWORD:-}" ]; then
  printf '"%s" "%s"\n' "$DB_USER" "$DB_PASSWORD" > /etc/pgbouncer/userlist.txt
  chmod 0600 /etc/pgbouncer/userlist.txt
fi
if [ ! -f "$ini" ]; then
  echo "error: no $ini (mount or copy one in)" >&2
  exit 1
fi
exec "$@"
