"""A local, stateful emulator of the Jira Software Cloud Deployments API."""

__version__ = "0.1.0"
