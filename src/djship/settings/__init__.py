"""Production settings: analyse a settings module, propose and apply changes, check them."""

from djship.settings.check import Finding, run_check
from djship.settings.fix import FileChange, SettingsPlan, apply_plan, plan_settings
from djship.settings.probe import SettingsImportError, production_env

__all__ = ["FileChange", "Finding", "SettingsImportError", "SettingsPlan", "apply_plan",
           "plan_settings", "production_env", "run_check"]
