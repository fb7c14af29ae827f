#!/bin/sh
# The stack's MariaDB: a datadir of its own (the mysql_data volume), initialised on the first
# start with the database and user that MYSQL_* name, listening on 127.0.0.1 only.
set -eu
datadir=/var/lib/mysql
options="--no-defaults --user=root --datadir=$datadir"
if [ ! -d "$datadir/mysql" ]; then
  mariadb-install-db $options --skip-test-db --auth-root-authentication-method=socket >/dev/null
  password=$(cat "$MYSQL_PASSWORD_FILE")
  cat >/tmp/init.sql <<SQL
CREATE DATABASE \`$MYSQL_DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER '$MYSQL_USER'@'%' IDENTIFIED BY '$password';
GRANT ALL ON \`$MYSQL_DATABASE\`.* TO '$MYSQL_USER'@'%';
SQL
  options="$options --init-file=/tmp/init.sql"
fi
mkdir -p /run/mysqld
exec mariadbd $options --bind-address=127.0.0.1 --port="$MYSQL_TCP_PORT" \
  --socket=/run/mysqld/mysqld.sock --innodb-buffer-pool-size=32M --innodb-log-file-size=8M
