from taskctl.cli import console_script

console_script()
