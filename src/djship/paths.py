"""Every path djship uses on a server, in one place.

Layout for a site ``blog``::

    /srv/blog/                    site root, owned by root
        releases/<id>/            one directory per release (code + .venv)
        current -> releases/<id>  the release nginx sends traffic to (and serves
                                  static files from: current/.static, then shared/static)
        shared/media/             uploaded files, kept across releases
        shared/static/            every release's collected static files merged, kept
                                  across releases (old hashed names for pages in flight)
        shared/data/              SQLite database when the site uses SQLite
        shared/backups/           pg_dump/SQLite backups
        shared/uv-cache/          uv's cache, so unchanged dependencies install in seconds
        slots/blue, slots/green   symlinks to releases: the two app instances (blue/green)
        live-slot                 which slot nginx sends traffic to
        .lock/                    the deploy lock (atomic mkdir)
    /etc/djship/blog.env          environment file (0600 root), read by systemd
    /etc/systemd/system/djship-blog@.service   app server, instances @blue and @green
    /etc/systemd/system/djship-blog@.socket    its listening socket per slot (held by systemd)
    /etc/nginx/sites-available/djship-blog.conf
    /etc/nginx/djship/blog-upstream.conf       which release socket nginx proxies to
    /run/djship-blog/<slot>/app.sock the socket of a slot (djship-blog@<slot>.socket)
"""

from __future__ import annotations

from dataclasses import dataclass

SRV_ROOT = "/srv"
ETC = "/etc/djship"
TOOLS = "/opt/djship"
UV = f"{TOOLS}/venv/bin/uv"
NGINX_AVAILABLE = "/etc/nginx/sites-available"
NGINX_ENABLED = "/etc/nginx/sites-enabled"
NGINX_SNIPPETS = "/etc/nginx/djship"
SYSTEMD = "/etc/systemd/system"
# Inside each release: its own collected static files (the STATIC_ROOT its processes read).
RELEASE_STATIC = ".static"


@dataclass(frozen=True)
class SitePaths:
    """Server paths of one site."""

    site: str

    @property
    def user(self) -> str:
        """The site's system user (and group)."""
        return f"djship-{self.site}"

    @property
    def root(self) -> str:
        """The site's directory."""
        return f"{SRV_ROOT}/{self.site}"

    @property
    def releases(self) -> str:
        """Directory holding one folder per release."""
        return f"{self.root}/releases"

    def release(self, release_id: str) -> str:
        """Directory of one release."""
        return f"{self.releases}/{release_id}"

    @property
    def current(self) -> str:
        """Symlink to the release that serves traffic."""
        return f"{self.root}/current"

    @property
    def live_static(self) -> str:
        """The live release's own collected static files (through ``current``)."""
        return f"{self.current}/{RELEASE_STATIC}"

    @property
    def shared(self) -> str:
        """Files kept across releases."""
        return f"{self.root}/shared"

    @property
    def media(self) -> str:
        """MEDIA_ROOT."""
        return f"{self.shared}/media"

    @property
    def static(self) -> str:
        """STATIC_ROOT."""
        return f"{self.shared}/static"

    @property
    def data(self) -> str:
        """Writable data (SQLite database)."""
        return f"{self.shared}/data"

    @property
    def backups(self) -> str:
        """Database backups."""
        return f"{self.shared}/backups"

    @property
    def uv_cache(self) -> str:
        """uv's package cache, shared by all releases."""
        return f"{self.shared}/uv-cache"

    @property
    def venvs(self) -> str:
        """Virtualenvs, one per dependency hash, shared by the releases that link to them."""
        return f"{self.root}/venvs"

    def venv(self, deps_hash: str) -> str:
        """The virtualenv for one set of dependencies."""
        return f"{self.venvs}/{deps_hash}"

    def slot(self, name: str) -> str:
        """Symlink naming the release a slot (blue/green) runs."""
        return f"{self.root}/slots/{name}"

    @property
    def live_slot(self) -> str:
        """File holding the name of the slot that serves traffic."""
        return f"{self.root}/live-slot"

    @property
    def lock(self) -> str:
        """The deploy lock directory."""
        return f"{self.root}/.lock"

    @property
    def env_file(self) -> str:
        """The environment file systemd reads."""
        return f"{ETC}/{self.site}.env"

    @property
    def unit(self) -> str:
        """Name of the app template unit (instance = slot)."""
        return f"djship-{self.site}@"

    def unit_name(self, slot: str) -> str:
        """The app unit of one slot."""
        return f"djship-{self.site}@{slot}.service"

    def socket_unit_name(self, slot: str) -> str:
        """The socket unit of one slot: systemd listens, and starts the app on a connection."""
        return f"djship-{self.site}@{slot}.socket"

    def slot_units(self, slot: str) -> tuple[str, str]:
        """A slot's socket and app units, which djship starts, stops and enables together."""
        return (self.socket_unit_name(slot), self.unit_name(slot))

    def retire_unit(self, slot: str) -> str:
        """Transient unit that stops a slot after the drain (``.timer`` and ``.service``)."""
        return f"djship-{self.site}-retire-{slot}"

    @property
    def unit_file(self) -> str:
        """Path of the app template unit."""
        return f"{SYSTEMD}/djship-{self.site}@.service"

    @property
    def socket_unit_file(self) -> str:
        """Path of the socket template unit (instance = slot)."""
        return f"{SYSTEMD}/djship-{self.site}@.socket"

    @property
    def run_dir(self) -> str:
        """Runtime directory holding the slots' sockets."""
        return f"/run/djship-{self.site}"

    def socket(self, slot: str) -> str:
        """The gunicorn socket of one slot."""
        return f"{self.run_dir}/{slot}/app.sock"

    @property
    def nginx_site(self) -> str:
        """The nginx server block."""
        return f"{NGINX_AVAILABLE}/djship-{self.site}.conf"

    @property
    def nginx_enabled(self) -> str:
        """Symlink enabling the nginx server block."""
        return f"{NGINX_ENABLED}/djship-{self.site}.conf"

    @property
    def nginx_upstream(self) -> str:
        """The upstream nginx proxies to (rewritten at each switch)."""
        return f"{NGINX_SNIPPETS}/{self.site}-upstream.conf"

    @property
    def db_name(self) -> str:
        """PostgreSQL database and role name."""
        return self.site.replace("-", "_")


SLOTS = ("blue", "green")


def other_slot(slot: str) -> str:
    """The slot that is not ``slot``."""
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]
