"""Day-two operations: status, logs, run, env, database backups."""
