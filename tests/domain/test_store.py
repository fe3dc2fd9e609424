from emulator.domain.model import DeploymentKey, Provider, StoredDeployment
from emulator.domain.store import DeploymentStore, Partition

P = Provider("connect", "app")


def record(n: int, props: dict[str, str], usn: int = 1) -> StoredDeployment:
    return StoredDeployment(DeploymentKey("p", "e", n), usn, b"{}", props, "production", 0.0)


def test_matching_is_and_of_every_pair() -> None:
    part = Partition()
    part.put(record(1, {"a": "1", "b": "2"}))
    part.put(record(2, {"a": "1"}))
    part.put(record(3, {"a": "1", "b": "3"}))
    assert sorted(k.sequence_number for k in part.matching({"a": "1"})) == [1, 2, 3]
    assert [k.sequence_number for k in part.matching({"a": "1", "b": "2"})] == [1]
    assert part.matching({"a": "1", "c": "x"}) == []
    assert part.matching({}) == []


def test_replacing_a_record_reindexes_its_properties() -> None:
    part = Partition()
    part.put(record(1, {"a": "1"}))
    part.put(record(1, {"a": "2"}, usn=2))
    assert part.matching({"a": "1"}) == []
    assert part.matching({"a": "2"}) == [DeploymentKey("p", "e", 1)]
    part.remove(DeploymentKey("p", "e", 1))
    assert part.by_property == {}


def test_partitions_are_per_site_and_provider() -> None:
    store = DeploymentStore()
    store.partition("s1", P).put(record(1, {}))
    store.partition("s2", P).put(record(1, {}))
    store.partition("s1", Provider("oauth", "c")).put(record(1, {}))
    assert len(store) == 3
    assert store.get("s2", Provider("oauth", "c"), DeploymentKey("p", "e", 1)) is None
    assert store.drop("s1", P) == 1
    assert store.drop("s1") == 1
    assert len(store) == 1
