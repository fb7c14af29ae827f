#!/bin/sh
# A nightly-backup container in fradelg/mysql-cron-backup's layout (YYYYMMDDHHMM.DB.sql.gz,
# latest.DB.sql.gz), gzipped real dumps. Cron is stood in for: the last MAX_BACKUPS runs of
# CRON_TIME "0 3 * * *" (UTC) are written at the start from one dump; then it waits, as cron does.
set -eu
dump=/tmp/dump.sql.gz
MYSQL_PWD=$(cat "$MYSQL_PASS_FILE") mariadb-dump --host="$MYSQL_HOST" --port="$MYSQL_PORT" \
  --user="$MYSQL_USER" --single-transaction --routines "$MYSQL_DATABASE" | gzip -9 >"$dump"
newest=0
[ "$(date -u +%H)" -lt 3 ] && newest=1  # today's 03:00 has not come yet
for back in $(seq $((newest + MAX_BACKUPS - 1)) -1 "$newest"); do
  name="$(date -u -d "$back days ago" +%Y%m%d)0300.$MYSQL_DATABASE.sql.gz"
  cp "$dump" "/backup/$name"
done
ln -sf "$name" "/backup/latest.$MYSQL_DATABASE.sql.gz"
rm "$dump"
trap 'exit 0' TERM  # PID 1: without a handler, `stop` would wait its timeout and kill
while :; do sleep 3600 & wait $!; done
