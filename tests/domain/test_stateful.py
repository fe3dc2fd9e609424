"""The service against a plain reference model: random submits, deletes, property deletes,
clock advances and flushes; after every step the applied store equals the model's."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from emulator.domain.clock import ManualClock
from emulator.domain.kinds import DEPLOYMENTS
from emulator.domain.model import DeploymentKey, Provider
from emulator.domain.service import DevOpsService, QueueSettings
from emulator.domain.sites import SiteRegistry
from tests.factories import deployment_input, site

providers = st.sampled_from([Provider("connect", "a"), Provider("oauth", "b")])
keys = st.builds(DeploymentKey, st.sampled_from(["p1", "p/2"]), st.sampled_from(["e1"]), st.integers(1, 3))
props = st.dictionaries(st.sampled_from(["x", "y"]), st.sampled_from(["1", "2"]), max_size=2)
bounds = st.none() | st.integers(0, 6)


class ServiceMachine(RuleBasedStateMachine):
    @initialize(delay=st.sampled_from([0.0, 0.5, 2.0]))
    def start(self, delay: float) -> None:
        self.clock = ManualClock()
        self.svc = DevOpsService(SiteRegistry([site("s")]), self.clock, QueueSettings(apply_delay=delay))
        self.site = self.svc.sites.get("s")
        self.delay = delay
        self.pending: list[tuple[float, int, tuple]] = []  # (due, seq, op)
        self.applied: dict[tuple[Provider, DeploymentKey], tuple[int, dict[str, str]]] = {}
        self.seq = 0

    # -- the reference model: a list of pending ops applied in (due, seq) order -------------------

    def _push(self, op: tuple) -> None:
        self.pending.append((self.clock.now() + self.delay, self.seq, op))
        self.seq += 1
        self._apply_model(self.clock.now())

    def _apply_model(self, now: float | None) -> None:
        self.pending.sort(key=lambda p: (p[0], p[1]))
        while self.pending and (now is None or self.pending[0][0] <= now):
            _, _, op = self.pending.pop(0)
            kind, provider = op[0], op[1]
            if kind == "put":
                _, _, key, usn, properties = op
                old = self.applied.get((provider, key))
                if old is None or old[0] < usn:
                    self.applied[(provider, key)] = (usn, properties)
            elif kind == "del":
                _, _, key, bound = op
                old = self.applied.get((provider, key))
                if old is not None and (bound is None or old[0] <= bound):
                    del self.applied[(provider, key)]
            else:
                _, _, wanted, bound = op
                for (p, k), (usn, have) in list(self.applied.items()):
                    if p == provider and all(have.get(n) == v for n, v in wanted.items()):
                        if bound is None or usn <= bound:
                            del self.applied[(p, k)]

    # -- rules ---------------------------------------------------------------------------------

    @rule(provider=providers, key=keys, usn=st.integers(0, 6), properties=props)
    def submit(self, provider: Provider, key: DeploymentKey, usn: int, properties: dict[str, str]) -> None:
        dep = deployment_input(key.pipeline_id, key.environment_id, key.sequence_number, usn)
        self.svc.submit(DEPLOYMENTS, self.site, provider, [dep], properties)
        self._push(("put", provider, key, usn, properties))

    @rule(
        provider=providers,
        writes=st.lists(st.tuples(keys, st.integers(0, 6)), min_size=2, max_size=4),
        properties=props,
    )
    def submit_many(
        self, provider: Provider, writes: list[tuple[DeploymentKey, int]], properties: dict[str, str]
    ) -> None:
        """One request of several writes (one run of the apply queue), a key possibly more than once."""
        deps = [deployment_input(k.pipeline_id, k.environment_id, k.sequence_number, usn) for k, usn in writes]
        self.svc.submit(DEPLOYMENTS, self.site, provider, deps, properties)
        for key, usn in writes:
            self.pending.append((self.clock.now() + self.delay, self.seq, ("put", provider, key, usn, properties)))
            self.seq += 1
        self._apply_model(self.clock.now())

    @rule(provider=providers, key=keys, bound=bounds)
    def delete(self, provider: Provider, key: DeploymentKey, bound: int | None) -> None:
        self.svc.delete(DEPLOYMENTS, self.site, provider, key, bound)
        self._push(("del", provider, key, bound))

    @rule(
        provider=providers,
        wanted=st.dictionaries(st.sampled_from(["x", "y"]), st.sampled_from(["1", "2"]), min_size=1, max_size=2),
        bound=bounds,
    )
    def delete_by_properties(self, provider: Provider, wanted: dict[str, str], bound: int | None) -> None:
        self.svc.delete_by_properties(DEPLOYMENTS, self.site, provider, wanted, bound)
        self._push(("props", provider, wanted, bound))

    @rule(dt=st.sampled_from([0.1, 0.5, 1.0, 3.0]))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)
        self.svc.apply_due()
        self._apply_model(self.clock.now())

    @rule()
    def flush(self) -> None:
        self.svc.flush()
        self._apply_model(None)

    @invariant()
    def store_equals_model(self) -> None:
        actual = {
            (pid[2], key): (rec.update_sequence_number, rec.properties)
            for pid, part in self.svc.store.partitions()
            for key, rec in part.records.items()
        }
        assert actual == self.applied
        for _, part in self.svc.store.partitions():  # a rewrite in place takes the new body with the new usn
            for rec in part.records.values():
                assert rec.data["updateSequenceNumber"] == rec.update_sequence_number
        assert len(self.svc.queue) == len(self.pending)
        latest: dict = {}
        for _, _seq, op in sorted(self.pending, key=lambda p: p[1]):
            if op[0] == "put":
                latest[(op[1], op[2])] = op[3]
        for (provider, key), usn in latest.items():
            found = self.svc.queue.latest_upsert("deployments", "s", provider, key)
            assert found is not None and found.entity.update_sequence_number == usn

    @invariant()
    def property_index_is_consistent(self) -> None:
        for _, part in self.svc.store.partitions():
            derived: dict[tuple[str, str], set[DeploymentKey]] = {}
            for key, rec in part.records.items():
                for pair in rec.properties.items():
                    derived.setdefault(pair, set()).add(key)
            assert part.by_property == derived


TestServiceMachine = ServiceMachine.TestCase
TestServiceMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
