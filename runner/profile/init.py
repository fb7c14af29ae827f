"""`deploycheck init`: a working profile inferred from the team's compose files and .env.

Everything deploycheck needs is usually written down there already: the database image and
its variables, the backup container's schedule and volume, the reverse proxy's host names,
the health check's URL, the variables the app reads. Each inferred key is written with a
comment saying where it came from; what could not be inferred is listed with the key to fill
in. A secret is never written: it becomes a `${VARIABLE}` reference or a `*_file` key that
points at the compose secret's file. With `for_container`, paths are written as the one-shot
service of examples/compose.deploycheck.yml sees them (its mounts: /config, /backup,
/run/secrets), each comment naming the mount and the host path it stands for.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import yaml

from runner.errors import ProfileError
from runner.profile.compose import Compose, read_env_file, referenced_variable
from runner.profile.loader import VARIABLE
from runner.redact import Redactor, is_secret_name, printable

_DATABASE_IMAGES = ("mysql", "mariadb", "percona", "percona-server", "mysql-server")
_BACKUP_IMAGE = re.compile(r"backup", re.IGNORECASE)
_PROXY_IMAGES = ("traefik", "nginx-proxy", "caddy", "jwilder/nginx-proxy", "nginxproxy/nginx-proxy")
_HOST_RULE = re.compile(r"Host\(([^)]*)\)")
_URL = re.compile(r"https?://[^\s'\"]+")
_ANY_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")
_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_MIGRATION_FILE = {
    "numbered": re.compile(r"^\d+_.+\.sql$"),
    "flyway": re.compile(r"^V\d+(?:[._]\d+)*__.+\.sql$"),
}
_SOURCE_SUFFIXES = (".py", ".R", ".r", ".js", ".ts", ".php", ".rb", ".go", ".java", ".md", ".sql", ".sh")

# Where the one-shot service of examples/compose.deploycheck.yml mounts what a profile names.
EXAMPLE = "examples/compose.deploycheck.yml"
CONFIG = "/config"  # the profile's folder there: relative paths start at it
MIGRATIONS = "migrations"  # /config/migrations
SECRETS = "/run/secrets"  # its compose secrets, db_password and smtp_password from ./secrets/
_BACKUP_DIR = "/backup"  # the backup volume, where the backup container writes it too
_ENV_FILE = "app.env"  # /config/app.env: the stack's .env


@dataclass
class Inferred:
    """The profile as a tree of values, a comment per key path, and what is missing."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)
    comments: dict[tuple[str, ...], str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # "key: what to fill in"
    placeholders: set[tuple[str, ...]] = field(default_factory=set)  # written, but not inferred
    secrets: set[str] = field(default_factory=set)  # values never to be written or printed
    inside_stack: bool = False  # the database is reached by its service name
    for_container: bool = False  # paths as the service of examples/compose.deploycheck.yml sees them
    notes: list[str] = field(default_factory=list)  # header lines under the "Written by" ones
    references: set[tuple[str, ...]] = field(default_factory=set)  # keys init writes ${VAR} into

    def set(self, path: tuple[str, ...], value: Any, comment: str, *, reference: bool = False) -> None:
        """`reference`: the value holds `${VARIABLE}` references init wrote, not the compose files."""
        node = self.values
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        self.comments[path] = comment
        if reference:
            self.references.add(path)

    def placeholder(self, path: tuple[str, ...], value: Any, comment: str, missing: str) -> None:
        """A stand-in value that keeps the profile loadable, listed as not inferred."""
        self.set(path, value, f"not inferred: {comment}")
        self.placeholders.add(path)
        self.missing.append(f"{'.'.join(path)}: {missing}")

    def masked(self) -> Inferred:
        """A last guard, before anything is encoded: whatever path a secret took, it is masked;
        comments and notes on one line each (they quote names from the compose file)."""
        guard = Redactor()
        guard.add(*self.secrets)
        return replace(
            self,
            values=guard.mask_data(self.values),
            comments={path: _one_line(guard.mask(text)) for path, text in self.comments.items()},
            missing=[_one_line(item) for item in guard.mask_data(self.missing)],
        )

    def inferred(self) -> list[str]:
        """The keys written with a value read from the compose files."""
        return sorted(".".join(p) for p in self.comments if self._holds(p) and p not in self.placeholders)

    def _holds(self, path: tuple[str, ...]) -> bool:
        node: Any = self.values
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return path != ("target",)


def infer(
    compose: Compose,
    name: str,
    out: Path,
    env_file: Path | None,
    remote: str | None,
    *,
    env_file_given: bool = False,
    for_container: bool = False,
) -> Inferred:
    """Read `compose` (and the env file it was interpolated with) into a profile for `out`, or,
    `for_container`, for `out` mounted in /config of the example's service."""
    found = Inferred(name, secrets=_secret_values(compose), for_container=for_container)
    if for_container:
        mount = f"{_mount_path(out.resolve(), compose)}:{CONFIG}/{out.name}:ro"
        found.notes += [
            f"# For the service of {EXAMPLE}: paths as its container sees them,",
            f"# this file mounted in {CONFIG} (`{mount}`).",
        ]
    found.set(("target",), name, f"the compose project {compose.project}")
    roles = _roles(compose)
    db = roles.get("database")
    if db is None:
        found.missing.append("database: no MySQL or MariaDB service (by image) in the compose files")
    else:
        _database(compose, db, found, out)
    backup = roles.get("backup")
    if backup is None:
        found.missing.append("backups: no backup service (an image named *backup*) in the compose files")
    else:
        _backups(compose, backup, db, found, out, remote)
    apps = roles.get("apps", [])
    hosts = _public_hosts(compose)
    if hosts:
        endpoints = [f"https://{host}" for host in sorted({h for hs in hosts.values() for h in hs})]
        found.set(("tls", "endpoints"), endpoints, "reverse-proxy rules: " + _where_hosts(hosts))
    else:
        found.missing.append("tls.endpoints: no Traefik Host() rule, VIRTUAL_HOST or Caddy label found")
    _health(compose, apps, hosts, found)
    _environment(compose, apps, found, out, env_file, env_file_given)
    _smtp(compose, apps, found)
    _migrations(compose, apps, found, out)
    _containers(compose, found)
    _leave_out_references(found.values, (), found)
    if for_container:
        read = sorted({m[1] for text in _strings(found.values) for m in VARIABLE.finditer(text)})
        found.missing += [
            f"{name}: the profile reads ${{{name}}}: set it under environment: of the service in {EXAMPLE}"
            for name in read
        ]
    return found.masked()


# -- which service is which ----------------------------------------------------------


def _image(compose: Compose, service: str) -> tuple[str, str]:
    """(name, tag) of the service's image: `mysql:8.4` -> ("mysql", "8.4")."""
    image = str(compose.value(compose.services[service].get("image") or ""))
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    return name, tag


def _roles(compose: Compose) -> dict[str, Any]:
    roles: dict[str, Any] = {"apps": []}
    for service in compose.services:
        image, _ = _image(compose, service)
        short = image.rsplit("/", 1)[-1]
        if short in _DATABASE_IMAGES and "database" not in roles:
            roles["database"] = service
        elif _BACKUP_IMAGE.search(image) and "backup" not in roles:
            roles["backup"] = service
        elif not any(image.endswith(proxy) for proxy in _PROXY_IMAGES):
            roles["apps"].append(service)
    return roles


# -- the database --------------------------------------------------------------------


def _database(compose: Compose, service: str, found: Inferred, out: Path) -> None:
    env = compose.environment(service)
    image, tag = _image(compose, service)
    flavor = "mariadb" if "mariadb" in image else "mysql"
    port, where = _server_port(compose, service)
    published = _published_port(compose, service, port)
    if _host_network(compose, service):
        found.set(
            ("database", "host"),
            "127.0.0.1",
            f"service {service}: network_mode host, on this host's loopback" + _host_network_too(found),
        )
        found.set(("database", "port"), port, f"service {service}: {where}")
    elif published and not found.for_container:
        found.set(("database", "host"), "127.0.0.1", f"service {service}: ports publishes {port} on the host")
        found.set(("database", "port"), published, f"service {service}: ports (as seen from this host)")
    else:
        found.inside_stack = True
        seen = (
            f"the service name, as the service of {EXAMPLE} sees it on the stack's network"
            if found.for_container
            else "no published port, so as seen from a container in the stack "
            f"(run deploycheck as a service there: {EXAMPLE})"
        )
        found.set(("database", "host"), service, f"service {service}: {seen}")
        inside = "the server's port inside the network"
        found.set(
            ("database", "port"),
            port,
            f"service {service}: {inside}" + ("" if port == 3306 else f" ({where})"),
        )
    prefix = "MARIADB" if any(k.startswith("MARIADB_") for k in env) else "MYSQL"
    database = _plain(compose, env, f"{prefix}_DATABASE")
    if database:
        found.set(("database", "name"), database, f"service {service}: {prefix}_DATABASE")
    else:
        found.placeholder(
            ("database", "name"),
            "app",
            "set the application's database name",
            f"{prefix}_DATABASE is not set in service {service}",
        )
    user = _plain(compose, env, f"{prefix}_USER")
    if user:
        found.set(
            ("database", "user"),
            user,
            f"service {service}: {prefix}_USER (a SELECT-only user is enough to verify)",
        )
    else:
        found.placeholder(
            ("database", "user"),
            "root",
            f"service {service}: no {prefix}_USER; use a SELECT-only user",
            f"{prefix}_USER is not set; create a SELECT-only user for deploycheck",
        )
    _secret(compose, service, env, f"{prefix}_PASSWORD", ("database", "password"), found, out, "db_password")
    versions = _version_range(tag)
    if versions:
        found.set(("database", "versions"), {flavor: versions}, f"service {service}: image {image}:{tag}")


def _version_range(tag: str) -> str | None:
    """`8.4` or `8.4.2` -> `>=8.4,<8.5`; tags without a version (latest, lts) say nothing."""
    match = re.match(r"^(\d+)\.(\d+)", tag)
    if not match:
        return None
    major, minor = int(match.group(1)), int(match.group(2))
    return f">={major}.{minor},<{major}.{minor + 1}"


def _host_network(compose: Compose, service: str) -> bool:
    """The service shares the host's network: its ports are the host's, `ports:` is ignored."""
    return compose.value(compose.services[service].get("network_mode")) == "host"


def _server_port(compose: Compose, service: str) -> tuple[int, str]:
    """The port mariadbd/mysqld listens on: `--port` in its command, else MYSQL_TCP_PORT (which
    the server reads as its default), else 3306; and where that came from."""
    command = compose.value(compose.services[service].get("command") or [])
    words = command.split() if isinstance(command, str) else [str(w) for w in command]
    for at, word in enumerate(words):
        value = word.partition("=")[2] if word.startswith("--port=") else ""
        if word == "--port" and at + 1 < len(words):
            value = words[at + 1]
        if value.isdigit():
            return int(value), "--port in its command"
    env_port = _plain(compose, compose.environment(service), "MYSQL_TCP_PORT") or ""
    if env_port.isdigit():
        return int(env_port), "MYSQL_TCP_PORT, the server's default port"
    return 3306, "no --port or MYSQL_TCP_PORT, so the server's default"


def _published_port(compose: Compose, service: str, target: int) -> int | None:
    for entry in compose.value(compose.services[service].get("ports") or []):
        if isinstance(entry, dict):
            if int(entry.get("target", 0)) == target and entry.get("published"):
                return int(str(entry["published"]).split("-")[0])
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) >= 2 and parts[-1] == str(target) and parts[-2].isdigit():
            return int(parts[-2])
    return None


def _plain(compose: Compose, env: dict[str, str], key: str) -> str | None:
    """A non-secret value, interpolated."""
    raw = env.get(key)
    return str(compose.value(raw)) or None if raw is not None else None


def _secret(
    compose: Compose,
    service: str,
    env: dict[str, str],
    key: str,
    path: tuple[str, ...],
    found: Inferred,
    out: Path,
    example_secret: str,
) -> None:
    """A password as a reference, never its value: `*_file` pointing at a compose secret's file,
    or `${VARIABLE}` naming the variable the compose file takes it from; for the container, the
    file of that secret, or of the example's `example_secret`, in /run/secrets."""
    secret_file = env.get(f"{key}_FILE")
    if secret_file:
        secret = Path(str(compose.value(secret_file))).name
        spec = compose.secrets.get(secret) or {}
        if isinstance(spec, dict) and spec.get("file"):
            host = (compose.folder / str(compose.value(spec["file"]))).resolve()
            file_key = (*path[:-1], f"{path[-1]}_file")
            came_from = f"service {service}: {key}_FILE, compose secret {secret}"
            if found.for_container:
                found.set(
                    file_key,
                    f"{SECRETS}/{secret}",
                    f"{came_from} ({_mount_path(host, compose)} on the host), given to the service "
                    f"of {EXAMPLE} under secrets:",
                )
            else:
                found.set(file_key, _relative(host, out), came_from)
            return
    raw = env.get(key)
    if raw is None:
        found.missing.append(f"{'.'.join(path)}: {key} is not set in service {service}")
        return
    variable = referenced_variable(raw) or key
    if found.for_container:
        _example_secret(found, path, example_secret, f"the password service {service} takes from ${variable}")
        return
    found.set(
        path,
        f"${{{variable}}}",
        f"service {service}: {key}, read from ${variable} when deploycheck runs",
        reference=True,
    )


def _example_secret(found: Inferred, path: tuple[str, ...], secret: str, what: str) -> None:
    """The example's compose secret `secret` (./secrets/NAME) for a password the stack takes from
    a variable: the file is the user's to write, so it is listed as not inferred."""
    found.placeholder(
        (*path[:-1], f"{path[-1]}_file"),
        f"{SECRETS}/{secret}",
        f"the secret {secret} of {EXAMPLE} (./secrets/{secret} on the host), for {what}",
        f"write {what} to ./secrets/{secret} (the secret {secret} of {EXAMPLE}), readable by uid 10001",
    )


# -- backups -------------------------------------------------------------------------


def _backups(
    compose: Compose, service: str, db: str | None, found: Inferred, out: Path, remote: str | None
) -> None:
    env = {k: str(compose.value(v)) for k, v in compose.environment(service).items()}
    image, _ = _image(compose, service)
    mount = _mount_source(compose, service, _BACKUP_DIR)
    if mount is None:
        found.placeholder(
            ("backups", "source"),
            _BACKUP_DIR,
            "the folder the backup service writes to"
            + (f", mounted at {_BACKUP_DIR} by {EXAMPLE}" if found.for_container else ""),
            f"no volume mounted at /backup in service {service}",
        )
    elif found.for_container:
        written, folder = mount
        found.set(
            ("backups", "source"),
            _BACKUP_DIR,
            f"service {service}: the volume {written} ({folder} on the host), mounted at "
            f"{_BACKUP_DIR} by {EXAMPLE}: `{written}:{_BACKUP_DIR}:ro`",
        )
    elif remote:
        found.set(
            ("backups", "source"), f"ssh://{remote}{mount[1]}", f"service {service}: /backup volume, over SSH"
        )
    else:
        folder = mount[1]
        shown = folder if folder.startswith("/var/lib/docker") else _relative(Path(folder), out)
        found.set(("backups", "source"), shown, f"service {service}: the volume mounted at /backup")
    credit = next(
        (f"service {service}: {k}" for k in ("MYSQL_DATABASE", "MARIADB_DATABASE") if env.get(k)), ""
    )
    database = env.get("MYSQL_DATABASE") or env.get("MARIADB_DATABASE")
    if not database and db is not None:
        db_env = compose.environment(db)
        key = next((k for k in ("MYSQL_DATABASE", "MARIADB_DATABASE") if db_env.get(k)), "MYSQL_DATABASE")
        database = _plain(compose, db_env, key)
        credit = f"service {db}: {key} (service {service} names none of its own)"
    if database:
        found.set(("backups", "databases"), [d for d in re.split(r"[\s,]+", database) if d], credit)
    schedule = env.get("CRON_TIME") or env.get("DB_DUMP_CRON") or env.get("SCHEDULE")
    if schedule:
        found.set(("backups", "schedule"), schedule, f"service {service}: CRON_TIME ({image})")
    else:
        found.missing.append(
            f"backups.schedule: no CRON_TIME in service {service} (a cron expression, e.g. '0 3 * * *')"
        )
    if env.get("TZ"):
        found.set(("backups", "timezone"), env["TZ"], f"service {service}: TZ, the time in backup names")
    if env.get("MAX_BACKUPS", "").isdigit():
        note = f"service {service}: MAX_BACKUPS"
        if env.get("INIT_BACKUP", "").lower() in ("1", "true", "yes"):
            note += "; INIT_BACKUP=1 adds a backup at every container start, which counts against it"
        found.set(("backups", "retention"), int(env["MAX_BACKUPS"]), note)


def _mount_source(compose: Compose, service: str, target: str) -> tuple[str, str] | None:
    """What `service` mounts at `target`, as written (a bind path or a volume's name) and as a
    host path: the bind path, or the named volume's folder under Docker's volume directory."""
    for entry in compose.value(compose.services[service].get("volumes") or []):
        if isinstance(entry, dict):
            source, inside = entry.get("source"), entry.get("target")
        else:
            parts = str(entry).split(":")
            if len(parts) < 2:
                continue
            source, inside = parts[0], parts[1]
        if not source or str(inside).rstrip("/") != target:
            continue
        if str(source).startswith((".", "/", "~")):
            return str(source), str((compose.folder / os.path.expanduser(str(source))).resolve())
        spec = compose.volumes.get(source) or {}
        real = (
            spec.get("name") if isinstance(spec, dict) and spec.get("name") else f"{compose.project}_{source}"
        )
        if isinstance(spec, dict) and spec.get("external"):
            real = spec.get("name") or source
        return str(source), f"/var/lib/docker/volumes/{real}/_data"
    return None


# -- the public side: hosts, health, environment, mail -------------------------------


def _public_hosts(compose: Compose) -> dict[str, list[str]]:
    """service -> the host names a reverse proxy serves it under."""
    hosts: dict[str, list[str]] = {}
    for service in compose.services:
        found: list[str] = []
        for key, value in compose.labels(service).items():
            if key.startswith("traefik.http.routers.") and key.endswith(".rule"):
                for group in _HOST_RULE.findall(value):
                    found += [h.strip(" `'\"") for h in group.split(",") if h.strip(" `'\"")]
            elif key == "caddy":
                found += [h for h in re.split(r"[\s,]+", value) if h and "." in h]
        virtual = compose.environment(service).get("VIRTUAL_HOST")
        if virtual:
            found += [h for h in re.split(r"[\s,]+", str(compose.value(virtual))) if h]
        if found:
            hosts[service] = sorted(set(found))
    return hosts


def _where_hosts(hosts: dict[str, list[str]]) -> str:
    return "; ".join(f"{service}: {', '.join(names)}" for service, names in sorted(hosts.items()))


def _health(compose: Compose, apps: list[str], hosts: dict[str, list[str]], found: Inferred) -> None:
    """The app's own healthcheck URL, asked through its public host. The URL is taken from the
    compose file as written: what its userinfo and query hold stays a `${VAR}` reference, and a
    literal there is left out and listed, so that no token reaches the profile."""
    checks = []
    for service in apps:
        test = (compose.services[service].get("healthcheck") or {}).get("test")
        text = " ".join(map(str, test)) if isinstance(test, list) else str(test or "")
        match = _URL.search(text)
        if not match:
            continue
        try:
            inside, left_out = _referenced_url(compose, match.group(0))
        except (ValueError, ProfileError):
            found.missing.append(
                f"http: the healthcheck of service {service} holds a URL that cannot be read"
            )
            continue
        if service not in hosts and _host_network(compose, service) and _is_loopback(inside):
            checks.append({"name": f"{service}-health", "url": inside})
            found.comments[("http", f"{service}-health")] = (
                f"service {service}: healthcheck {inside}, on this host's loopback (network_mode host)"
                + _host_network_too(found)
            )
            _left_out(service, left_out, found)
            continue
        if service not in hosts:
            found.missing.append(
                f"http: service {service} checks {inside} inside its container and has no public "
                "host: add the URL deploycheck can reach"
            )
            continue
        parts = urlsplit(inside)
        public = urlunsplit(
            ("https", _userinfo(parts.netloc) + hosts[service][0], parts.path or "/", parts.query, "")
        )
        checks.append({"name": f"{service}-health", "url": public})
        found.comments[("http", f"{service}-health")] = (
            f"service {service}: healthcheck {inside}, through its public host"
        )
        _left_out(service, left_out, found)
    if checks:
        found.set(("http",), checks, "health checks of the app services", reference=True)


def _left_out(service: str, left_out: list[str], found: Inferred) -> None:
    if left_out:
        found.missing.append(
            f"http[{service}-health].url: {' and '.join(left_out)} of the healthcheck's URL left out "
            "(a literal value there is a credential): add it as a ${VARIABLE} reference"
        )


def _is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("localhost", "127.0.0.1", "::1")


def _referenced_url(compose: Compose, raw: str) -> tuple[str, list[str]]:
    """The URL with host and path interpolated, userinfo and query values as `${VAR}` references
    (what is not a reference left out), and what was left out."""
    parts = urlsplit(raw)
    left_out: list[str] = []
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if userinfo:
        user, colon, password = userinfo.partition(":")
        kept_user = _reference(user) or ("" if "$" in user else user)
        kept_password = _reference(password)
        left_out += ["the user"] if user and not kept_user else []
        left_out += ["the password"] if colon and not kept_password else []
        userinfo = kept_user + (f":{kept_password}" if kept_user and kept_password else "")
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if _reference(value):
            query.append(f"{key}={_reference(value)}")
        else:
            left_out.append(f"the query value {key}")
    host, path = str(compose.value(hostport)), str(compose.value(parts.path))
    if VARIABLE.search(host + path):  # compose's `$${NAME}`: the profile would read NAME there
        raise ValueError("a ${VARIABLE} in its host or path")
    netloc = (f"{userinfo}@" if userinfo else "") + host
    return urlunsplit((parts.scheme, netloc, path, "&".join(query), "")), left_out


def _reference(raw: str) -> str:
    """`${NAME}` for a raw value that is exactly a reference to NAME, else ''."""
    name = referenced_variable(raw)
    return f"${{{name}}}" if name else ""


def _userinfo(netloc: str) -> str:
    userinfo, at, _ = netloc.rpartition("@")
    return f"{userinfo}@" if at else ""


def _secret_values(compose: Compose) -> set[str]:
    """The values init must never write or print: every variable named as a secret, every
    value a service sets under a secret-named key (but not a `*_FILE` one's), and what fills a
    URL's userinfo or query."""
    values = {value for name, value in compose.variables.items() if _holds_a_secret(name)}
    for service in compose.services:
        for key, raw in compose.environment(service).items():
            if _holds_a_secret(key):
                values.add(str(compose.value(raw)))
        values.update(value for key, value in compose.labels(service).items() if is_secret_name(key))
        for raw in _strings(compose.services[service]):
            for url in _ANY_URL.findall(raw):
                values.update(_url_credentials(compose, url))
    return values


def _holds_a_secret(name: str) -> bool:
    """A secret-named variable or key, but not a `*_FILE` one (MYSQL_PASSWORD_FILE, in a service
    or the .env): that holds the secret's path, which the profile for the container names."""
    return is_secret_name(name) and not name.upper().endswith("_FILE")


def _url_credentials(compose: Compose, url: str) -> set[str]:
    """The values in a URL's userinfo and query: the variables referenced there and, where the
    URL interpolates, the interpolated ones."""
    netloc, _, rest = url.partition("://")[2].partition("/")
    credential = netloc.rpartition("@")[0] + " " + rest.partition("?")[2]
    found = {compose.variables.get(name, "") for name in _REFERENCE.findall(credential)}
    try:
        interpolated = urlsplit(str(compose.value(url)))
        found.add(interpolated.password or "")
        found.update(value for _, value in parse_qsl(interpolated.query))
    except (ValueError, ProfileError):  # a URL cut inside a template: its references are enough
        pass
    return found


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, item in node.items() for s in _strings(key) + _strings(item)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def _environment(
    compose: Compose, apps: list[str], found: Inferred, out: Path, env_file: Path | None, given: bool
) -> None:
    """env.source and env.required, the required names being ones that source holds: the env
    file's variables the app services read (through `${VAR}` or `env_file:`), else the app's
    container environment, named by compose's container name."""
    if not any(compose.environment(service) for service in apps):
        found.missing.append("env.required: no app service sets environment variables")
        return
    if env_file is not None:
        held = set(read_env_file(env_file))
        read = {name for service in apps for name in _variables_read(compose, service, env_file)} & held
        where = f"the env file {env_file.name}" + (
            " given with --env-file" if given else " beside the compose file"
        )
        if read:
            came_from = f"{where}: the app services ({', '.join(apps)}) read {len(read)} of its variables"
            if found.for_container:
                host = _mount_path(env_file.resolve(), compose)
                found.set(
                    ("env", "source"),
                    f"dotenv:{_ENV_FILE}",
                    f"{came_from}; mounted at {CONFIG}/{_ENV_FILE} by {EXAMPLE}: "
                    f"`{host}:{CONFIG}/{_ENV_FILE}:ro`",
                )
            else:
                found.set(("env", "source"), f"dotenv:{_relative(env_file.resolve(), out)}", came_from)
            found.set(
                ("env", "required"), sorted(read), f"variables of {env_file.name} the app services read"
            )
            return
    why = "no env file" if env_file is None else f"the app services read none of {env_file.name}'s variables"
    if found.for_container:
        found.missing.append(
            f"env: {why}, and the service of {EXAMPLE} cannot read a container's environment "
            f"(docker:CONTAINER runs `docker exec`): leave env out, or mount the env file at "
            f"{CONFIG}/{_ENV_FILE} and write env.source: dotenv:{_ENV_FILE}"
        )
        return
    first = next(service for service in apps if compose.environment(service))
    container = compose.services[first].get("container_name") or f"{compose.project}-{first}-1"
    found.set(
        ("env", "source"),
        f"docker:{compose.value(container)}",
        f"service {first}'s container, the environment the app reads ({why})",
    )
    found.set(("env", "required"), sorted(compose.environment(first)), f"variables service {first} sets")


def _variables_read(compose: Compose, service: str, env_file: Path) -> set[str]:
    """The variables whose values reach the service's environment: every one its environment's
    values reference, and all of `env_file` when the service loads it with `env_file:`."""
    read = {name for raw in compose.environment(service).values() for name in _REFERENCE.findall(raw)}
    loaded = compose.services[service].get("env_file") or []
    for entry in [loaded] if isinstance(loaded, (str, dict)) else loaded:
        path = entry.get("path") if isinstance(entry, dict) else entry
        if path and (compose.folder / str(path)).resolve() == env_file.resolve():
            read |= set(read_env_file(env_file))
    return read


_SMTP_KEYS = {
    "host": ("SMTP_HOST", "MAIL_HOST", "SMTP_SERVER", "EMAIL_HOST"),
    "port": ("SMTP_PORT", "MAIL_PORT", "EMAIL_PORT"),
    "user": ("SMTP_USER", "SMTP_USERNAME", "MAIL_USERNAME", "MAIL_USER", "EMAIL_HOST_USER"),
    "password": ("SMTP_PASSWORD", "SMTP_PASS", "MAIL_PASSWORD", "EMAIL_HOST_PASSWORD"),
    "from": ("MAIL_FROM", "SMTP_FROM", "MAIL_FROM_ADDRESS", "DEFAULT_FROM_EMAIL"),
}


def _smtp(compose: Compose, apps: list[str], found: Inferred) -> None:
    for service in apps:
        env = compose.environment(service)
        host_key = next((k for k in _SMTP_KEYS["host"] if k in env), None)
        if host_key is None:
            continue
        for key, names in _SMTP_KEYS.items():
            name = next((n for n in names if n in env), None)
            if name is None:
                continue
            if key == "password" and found.for_container:
                variable = referenced_variable(env[name]) or name
                _example_secret(
                    found,
                    ("smtp", key),
                    "smtp_password",
                    f"the password service {service} takes from ${variable}",
                )
                continue
            if key == "password" or is_secret_name(name):
                variable = referenced_variable(env[name]) or name
                found.set(
                    ("smtp", key),
                    f"${{{variable}}}",
                    f"service {service}: {name}, read when deploycheck runs",
                    reference=True,
                )
                continue
            value = str(compose.value(env[name]))
            found.set(
                ("smtp", key),
                int(value) if key == "port" and value.isdigit() else value,
                f"service {service}: {name}",
            )
        port = found.values["smtp"].get("port", 587)
        security = {465: "tls", 25: "plain"}.get(port, "starttls")
        found.set(("smtp", "security"), security, f"from port {port}")
        return


def _migrations(compose: Compose, apps: list[str], found: Inferred, out: Path) -> None:
    for service in apps:
        for entry in compose.value(compose.services[service].get("volumes") or []):
            source = entry.get("source") if isinstance(entry, dict) else str(entry).split(":")[0]
            if not source or not str(source).startswith((".", "/")):
                continue
            folder = (compose.folder / str(source)).resolve()
            if not folder.is_dir():
                continue
            names = [p.name for p in folder.iterdir() if p.suffix == ".sql"]
            for naming, pattern in _MIGRATION_FILE.items():
                if sum(bool(pattern.match(n)) for n in names) >= 1:
                    if found.for_container:
                        found.set(
                            ("migrations", "dir"),
                            MIGRATIONS,
                            f"service {service}: mounts {source} ({folder} on the host), mounted at "
                            f"{CONFIG}/{MIGRATIONS} by {EXAMPLE}: `{source}:{CONFIG}/{MIGRATIONS}:ro`",
                        )
                    else:
                        found.set(
                            ("migrations", "dir"),
                            _relative(folder, out),
                            f"service {service}: mounts {source}",
                        )
                    found.set(("migrations", "naming"), naming, f"file names such as {sorted(names)[0]}")
                    if _mentions_schema_version(compose.folder):
                        found.set(
                            ("migrations", "ledger"),
                            "schema_version",
                            "a guess: `schema_version` is named in the application's files",
                        )
                    return
    found.missing.append(
        "migrations.dir: no folder of NNN_*.sql or V*__*.sql files is mounted into an app service"
    )


def _mentions_schema_version(folder: Path, limit: int = 2000) -> bool:
    seen = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("node_modules", "vendor", "venv")]
        for name in files:
            if not name.endswith(_SOURCE_SUFFIXES):
                continue
            seen += 1
            if seen > limit:
                return False
            path = Path(root) / name
            try:
                info = path.lstat()  # a regular file only: a FIFO or a link to /dev/zero never ends
                if not stat.S_ISREG(info.st_mode) or info.st_size >= 1 << 20:
                    continue
                if "schema_version" in path.read_text(errors="ignore"):
                    return True
            except OSError:
                continue
    return False


def _relative(path: Path, out: Path) -> str:
    """A path as the profile writes it: relative to the profile's folder."""
    return os.path.relpath(path, out.resolve().parent)


def _mount_path(path: Path, compose: Compose) -> str:
    """A host path as a bind mount in an override beside the compose file writes it."""
    relative = os.path.relpath(path, compose.folder.resolve())
    return relative if relative.startswith("..") else f"./{relative}"


def _host_network_too(found: Inferred) -> str:
    return f"; give the service of {EXAMPLE} network_mode: host too" if found.for_container else ""


# -- the containers ------------------------------------------------------------------

_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")  # what compose accepts, and the profile too
_SERVICE_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")  # compose's own rule for service names


def _containers(compose: Compose, found: Inferred) -> None:
    """The compose project and its services, each with the image it was deployed with. A service
    under `profiles:` is left out: compose does not start it with the stack (deploycheck's own
    one-shot service is one), so the engine has no container of it to check."""
    if not _PROJECT_NAME.fullmatch(compose.project):
        found.missing.append(f"containers.project: {compose.project!r} is not a compose project name")
        return
    found.set(("containers", "project"), compose.project, "the compose project (`name:` or the folder)")
    services = [s for s in compose.services if not compose.services[s].get("profiles")]
    found.set(("containers", "services"), {}, "the services compose starts with the stack")
    for service in services:
        if not _SERVICE_NAME.fullmatch(service):
            found.missing.append(f"containers.services: {service!r} is not a compose service name")
            continue
        raw = str(compose.services[service].get("image") or "")
        if not raw:
            found.set(
                ("containers", "services", service),
                {},
                f"service {service}: built here, no image name to hold the release to",
            )
            continue
        variables = ", ".join(f"${name}" for name in sorted(set(_REFERENCE.findall(raw))))
        came_from = f" (from {variables})" if variables else ""
        found.set(
            ("containers", "services", service, "image"),
            str(compose.value(raw)),
            f"service {service}: image{came_from}, the release it must run: update it with each release",
        )


def _leave_out_references(node: dict[str, Any], path: tuple[str, ...], found: Inferred) -> None:
    """Leave out, and list, the values read from the compose files that hold a `${NAME}` (compose's
    `$${NAME}`): the profile's loader would fill it in from deploycheck's environment, so a label
    could put the database password into a host name the checks look up."""
    for key, value in list(node.items()):
        at = (*path, key)
        if at in found.references:
            continue
        if isinstance(value, dict):
            _leave_out_references(value, at, found)
            continue
        texts = value if isinstance(value, list) else [value]
        unread = [text for text in texts if isinstance(text, str) and VARIABLE.search(text)]
        if not unread:
            continue
        found.missing.append(
            f"{'.'.join(at)}: left out {' and '.join(unread)}: a ${{VARIABLE}} there would be read from "
            "the environment deploycheck runs in, not taken as written"
        )
        kept = [text for text in texts if text not in unread]
        if isinstance(value, list) and kept:
            node[key] = kept
        else:
            del node[key]


# -- writing -------------------------------------------------------------------------

_ORDER = ("target", "database", "migrations", "backups", "env", "smtp", "tls", "http", "containers")


def render(found: Inferred, sources: list[Path]) -> str:
    """The profile as YAML, each value with the comment that says where it came from."""
    head = [
        f"# Written by `deploycheck init` on {datetime.now(UTC):%Y-%m-%d} from {', '.join(p.name for p in sources)}.",
        "# Each value says where it came from: check them. ${VAR} values are read from the environment",
        "# when deploycheck runs; no secret value is written here.",
        *found.notes,
    ]
    lines = [*head]
    for key in _ORDER:
        if key not in found.values:
            continue
        lines += _render(key, found.values[key], (key,), found.comments, 0)
    if found.missing:
        lines += ["", "# Not inferred (fill in, or leave the section out: its checks then skip):"]
        lines += [f"#   {item}" for item in found.missing]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """`text` for a comment: a line break (or other control character) in a name read from the
    compose file would end the comment, and what follows would be read as the profile's YAML."""
    return printable(text, " ")


def _render(key: str, value: Any, path: tuple[str, ...], comments: dict, depth: int) -> list[str]:
    pad = "  " * depth
    key = _scalar(key)  # a compose service name is a key too (containers.services): quoted as YAML needs
    comment = comments.get(path)
    if isinstance(value, dict) and value:
        lines = [""] if depth == 0 else []
        lines.append(f"{pad}{key}:" + (f"  # {comment}" if comment else ""))
        for child, item in value.items():
            lines += _render(child, item, (*path, child), comments, depth + 1)
        return lines
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        lines = ["", f"{pad}{key}:" + (f"  # {comment}" if comment else "")]
        for item in value:
            note = comments.get((*path, str(item.get("name"))))
            first = True
            for child, entry in item.items():
                lead = "- " if first else "  "
                suffix = f"  # {note}" if first and note else ""
                lines.append(f"{pad}  {lead}{child}: {_scalar(entry)}{suffix}")
                first = False
        return lines
    text = f"{pad}{key}: {_scalar(value)}"
    if comment:
        text = f"{text:<44}  # {comment}"
    return ["", text] if depth == 0 else [text]


def _scalar(value: Any) -> str:
    return (
        yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000)
        .strip()
        .removesuffix("...")
        .strip()
    )
