from django.db import models


class Task(models.Model):
    """A job in the database-backed queue."""

    payload = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.CharField(max_length=100, blank=True)
    release = models.CharField(max_length=300, blank=True)
    version = models.CharField(max_length=40, blank=True)
    pid = models.IntegerField(null=True, blank=True)


class JobRun(models.Model):
    """One run of the scheduled job."""

    host = models.CharField(max_length=100)
    version = models.CharField(max_length=40)
    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
