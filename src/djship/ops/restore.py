"""`djship db restore`: the site's data replaced by a backup, with the app stopped meanwhile.

Under the deploy lock, so no deploy or restart switches slots halfway. The database as it
was is saved first (a ``prerestore-`` backup, so a wrong restore can be undone), then the
app stops on every host, the dump is restored in one transaction on the backup host, and
the app starts again and is health-checked, whether the restore worked or not.
"""

from __future__ import annotations

from djship.errors import DjshipError, UsageError
from djship.ops import db
from djship.release.phases import health_check
from djship.release.pipeline import Pipeline, Target
from djship.steps.provision import job_host


class Restore(Pipeline):
    """Replace the site's data with a backup kept on its job host."""

    interrupt_outcome = ("the steps above say how far the restore got; the app was started "
                         "again, and the data as it was is saved (a prerestore- backup)",)

    @property
    def keeper(self) -> Target:
        """The host that keeps the backups: the job host, where `db backup` and scheduled
        backups write them (first worker host, else first web host)."""
        chosen = job_host(self.config, self.site)
        return next((t for t in self.targets if chosen and t.name == chosen.name),
                    self.targets[0])

    def execute(self, name: str) -> str:
        """Restore ``name``; returns the name of the safety backup taken first.

        Ctrl-C or SIGTERM does not cut the restore short (it is one transaction on the
        server): the app is started again, then the run ends with the interruption."""
        with self.interruptible():
            return self.run_restore(name)

    def run_restore(self, name: str) -> str:
        """The restore under the lock (the lock also reads each host's facts)."""
        self.lock_all()
        try:
            if not self.keeper.transport.run(db.exists(self.paths, name)).ok:
                raise UsageError(f"no backup {name} on {self.keeper.name}",
                                 hint="see `djship db list`")
            safety = self.save()
            try:
                self.phase("stop", self.stop)
                self.phase("restore", lambda t: self.restore(t, name, safety), [self.keeper])
            finally:
                self.start_again()
                # Only now: rotating first could delete the very backup being restored.
                keep = self.config.sites[self.site].backups.keep
                self.keeper.transport.run(db.rotate(self.paths, "prerestore", keep))
            return safety
        finally:
            self.unlock_all()

    def save(self) -> str:
        """Back up the data as it is now; its name."""
        script, safety = db.backup(self.paths, None, "prerestore")

        def save(t: Target) -> str:
            self.run(t, "save", script, hint="nothing was changed")
            return f"current data saved as {safety}"

        self.phase("save", save, [self.keeper])
        return safety

    def stop(self, t: Target) -> str:
        """Stop the app (live slot and workers) on a host."""
        self.run(t, "stop", db.stop_app(self.paths))
        return "app stopped"

    def restore(self, t: Target, name: str, safety: str) -> str:
        """Restore the dump on the backup host."""
        self.run(t, "restore", db.restore(self.paths, name),
                 hint=f"the restore runs in one transaction, so the data is as it was "
                      f"(also saved as {safety}); the app is started again")
        return f"restored {name}"

    def start_again(self) -> None:
        """Start each host's live slot, health-check web hosts, restart workers."""
        site = self.config.sites[self.site]

        # Started again even after Ctrl-C: the interruption is raised once the app is back.
        interrupted = self.stopping.is_set()
        self.stopping.clear()

        def start(t: Target) -> str | None:
            slot = t.state.live_slot
            if not t.serves:
                return None  # a worker-only host: its workers restart below
            if not slot:
                return "no release yet"
            self.run(t, "start", db.start_app(self.paths, slot),
                     hint="the app did not come back: see its log above")
            self.run(t, "health", health_check(site, self.paths, slot),
                     hint="the app runs on the restored data but fails its health check")
            return f"{slot} serving again"

        try:
            self.phase("start", start)
        finally:
            try:
                self.restart_workers()
            except DjshipError as exc:
                self.ctx.ui.warn(f"workers did not restart: {exc.message}")
            if interrupted:
                self.stopping.set()
