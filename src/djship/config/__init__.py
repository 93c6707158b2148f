"""Configuration: schema, loading with overlays, and error reporting."""

from djship.config.loader import CONFIG_NAME, Source, load, validate
from djship.config.schema import Config, Host, Project, Site

__all__ = ["CONFIG_NAME", "Config", "Host", "Project", "Site", "Source", "load", "validate"]
