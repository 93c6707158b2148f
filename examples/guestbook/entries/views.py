import os

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from entries.forms import EntryForm
from entries.models import Entry
from entries.version import VERSION


@require_http_methods(["GET", "HEAD", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    """List the latest entries and accept a new one."""
    form = EntryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        # Redirect after POST so a reload doesn't submit the entry twice.
        return redirect("index")
    entries = Entry.objects.all()[:50]
    return render(request, "entries/index.html", {"entries": entries, "form": form, "version": VERSION})


@require_GET
def health(request: HttpRequest) -> HttpResponse:
    """Liveness for djship's health check; touches no database so it is cheap."""
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def greeting(request: HttpRequest) -> HttpResponse:
    """Echo the GREETING environment variable, to test `djship env set`."""
    return HttpResponse(os.environ.get("GREETING", ""), content_type="text/plain")


def boom(request: HttpRequest) -> HttpResponse:
    """Fail on purpose, to test that server errors are logged and mailed to ADMINS."""
    raise RuntimeError("boom: this error is raised on purpose")
