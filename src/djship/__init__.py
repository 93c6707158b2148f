"""djship: deploy a Django project to your own Linux servers."""

__version__ = "0.1.0"
