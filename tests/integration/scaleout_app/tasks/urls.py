from django.urls import path

from tasks import views

urlpatterns = [
    path("enqueue/", views.enqueue),
    path("<int:pk>/", views.task),
    path("runs/", views.runs),
    path("whoami/", views.whoami),
    path("health/", views.health),
]
