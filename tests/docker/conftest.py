"""Fixtures of the container tests: the engine, the image built once per session, containers of it.

A test marked ``docker`` needs a Docker engine that answers; without one it is skipped with the reason.
The image is built from the working tree once per session and tagged ``jira-deployments-emulator``,
the name every recipe uses; BuildKit's cache makes that build take a second or two when nothing
changed. ``pytest -m docker -s`` prints what was measured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.docker import engine


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = engine.engine_problem()
    if problem is not None:
        pytest.skip(f"container tests need a Docker engine: {problem}")


@pytest.fixture(scope="session")
def image(docker_engine: None) -> engine.Image:
    built = engine.build_image()
    print(f"\n[docker] image {built.tag}: built in {built.build_seconds:.1f} s, {built.size_bytes / 1e6:.0f} MB")
    return built


Start = Callable[..., engine.Container]


@pytest.fixture
def start(image: engine.Image) -> Iterator[Start]:
    """``start(env={...}, args=[...])``: a running container of the image; removed after the test."""
    started: list[engine.Container] = []

    def run(env: dict[str, str] | None = None, args: list[str] | tuple[str, ...] = ()) -> engine.Container:
        container = engine.Container.run(image.tag, env=env, args=args)
        started.append(container)
        return container

    yield run
    for container in started:
        container.remove()


@pytest.fixture
def volume(docker_engine: None) -> Iterator[str]:
    """A fresh named volume, removed after the test."""
    name = engine.unique("jde-data")
    engine.docker("volume", "create", "--label", engine.LABEL, name)
    yield name
    # the test's containers may still exist (fixtures end in reverse order): a volume in use stays
    users = engine.docker("ps", "--all", "--quiet", "--filter", f"volume={name}").split()
    if users:
        engine.docker("rm", "--force", *users, check=False)
    engine.docker("volume", "rm", "--force", name, check=False)
