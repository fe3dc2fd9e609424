"""The Docker sidecar, checked without a Docker engine: Dockerfile, build context, compose file, recipes."""
