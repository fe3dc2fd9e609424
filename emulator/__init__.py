"""A local, stateful emulator of the Jira Software Cloud Deployments API."""

__version__ = "0.2.0"
