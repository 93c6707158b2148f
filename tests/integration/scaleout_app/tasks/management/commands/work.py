import os
import signal
import socket
import time
from types import FrameType

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from entries.version import VERSION

from tasks.models import Task


class Command(BaseCommand):
    help = "Do queued jobs until SIGTERM (the job in hand is finished first)."

    def handle(self, *args: object, **options: object) -> None:
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        release = os.path.realpath(os.getcwd())
        self.stdout.write(f"worker {os.getpid()} on {release} (VERSION {VERSION})", ending="\n")
        self.stdout.flush()
        while not stopping:
            with transaction.atomic():
                task = (Task.objects.select_for_update(skip_locked=True)
                        .filter(done_at__isnull=True).order_by("id").first())
                if task is not None:
                    task.done_at = timezone.now()
                    task.done_by = socket.gethostname()
                    task.release = release
                    task.version = VERSION
                    task.pid = os.getpid()
                    task.save()
            if task is None:
                time.sleep(0.3)
            else:
                self.stdout.write(f"did task {task.id}: {task.payload}", ending="\n")
                self.stdout.flush()
        self.stdout.write("worker stopped gracefully", ending="\n")
