"""Programs djship installs on servers (run there by the system python3, stdlib only)."""
