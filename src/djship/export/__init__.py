"""`djship export`: platform files (Heroku-style buildpacks, Docker) from the same project."""
