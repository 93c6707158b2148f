"""URL configuration for the guestbook example."""

from django.contrib import admin
from django.urls import path
from entries import views

urlpatterns = [
    path("", views.index, name="index"),
    path("health/", views.health, name="health"),
    path("greeting/", views.greeting, name="greeting"),
    path("boom/", views.boom, name="boom"),
    path("admin/", admin.site.urls),
]
