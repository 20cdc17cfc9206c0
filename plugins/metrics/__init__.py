"""The built-in evaluation plugins (registered under ``convzoo.plugins`` like any other)."""
