"""Transports: ssh (OpenSSH with a control connection), local, and a recording fake."""
