"""Domains and TLS: DNS checks, certificates (certbot or your own) and nginx's HTTPS server."""
