import os
import socket

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from entries.version import VERSION

from tasks.models import JobRun, Task


@csrf_exempt
@require_POST
def enqueue(request: HttpRequest) -> JsonResponse:
    """Put a job in the queue; a worker process does it."""
    task = Task.objects.create(payload=request.POST.get("payload", ""))
    return JsonResponse({"id": task.id})


@require_GET
def task(request: HttpRequest, pk: int) -> JsonResponse:
    """Whether the job is done, and by which host, process and release."""
    t = get_object_or_404(Task, pk=pk)
    return JsonResponse({"id": t.id, "payload": t.payload, "done": t.done_at is not None,
                         "done_by": t.done_by, "release": t.release, "version": t.version,
                         "pid": t.pid})


@require_GET
def runs(request: HttpRequest) -> JsonResponse:
    """Every run of the scheduled job."""
    return JsonResponse({"runs": [
        {"id": r.id, "host": r.host, "version": r.version, "started": r.started.timestamp(),
         "finished": r.finished.timestamp() if r.finished else None}
        for r in JobRun.objects.order_by("started", "id")]})


@require_GET
def whoami(request: HttpRequest) -> JsonResponse:
    """The host and release that answered, and the scheme Django believes the client used."""
    return JsonResponse({"host": socket.gethostname(), "version": VERSION,
                         "release": os.path.realpath(os.getcwd()), "scheme": request.scheme})


@require_GET
def health(request: HttpRequest) -> HttpResponse:
    """ok, unless the host has a sick marker for this release's VERSION."""
    if os.path.exists(f"/etc/djship-test-sick-{VERSION}"):
        return HttpResponse("sick", status=500, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")
