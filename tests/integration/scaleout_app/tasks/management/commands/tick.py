import socket
import time

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from entries.version import VERSION

from tasks.models import JobRun


class Command(BaseCommand):
    help = "The scheduled job: record a run that takes SECONDS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("seconds", type=float)

    def handle(self, *args: object, **options: object) -> None:
        run = JobRun.objects.create(host=socket.gethostname(), version=VERSION,
                                    started=timezone.now())
        self.stdout.write(f"tick {run.id} started on {run.host}", ending="\n")
        self.stdout.flush()
        time.sleep(float(options["seconds"]))  # type: ignore[arg-type]
        run.finished = timezone.now()
        run.save()
        self.stdout.write(f"tick {run.id} finished", ending="\n")
