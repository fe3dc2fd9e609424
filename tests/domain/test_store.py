from emulator.domain.model import DeploymentKey, Provider, StoredDeployment
from emulator.domain.store import EntityStore, Partition

P = Provider("connect", "app")


def record(n: int, props: dict[str, str], usn: int = 1) -> StoredDeployment:
    return StoredDeployment(DeploymentKey("p", "e", n), usn, b"{}", props, 0.0, "production")


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
    store = EntityStore()
    store.partition("deployments", "s1", P).put(record(1, {}))
    store.partition("deployments", "s2", P).put(record(1, {}))
    store.partition("deployments", "s1", Provider("oauth", "c")).put(record(1, {}))
    assert len(store) == 3
    assert store.get("deployments", "s2", Provider("oauth", "c"), DeploymentKey("p", "e", 1)) is None
    assert store.drop("s1", P) == {"deployments": 1}
    assert store.drop("s1") == {"deployments": 1}
    assert len(store) == 1


def test_remove_all_leaves_the_index_as_removing_one_by_one_does() -> None:
    shared = {"a": "1", "b": "2"}  # one request's records share their properties dict
    one_by_one, at_once = Partition(), Partition()
    for part in (one_by_one, at_once):
        for n in range(1, 4):
            part.put(record(n, shared))
        part.put(record(4, {"a": "1", "b": "2"}))  # equal properties, another dict
        part.put(record(5, {"a": "1"}))
        part.put(record(6, {"a": "1", "c": "3"}))
    doomed = sorted(at_once.matching({"a": "1", "b": "2"}))
    assert [k.sequence_number for k in doomed] == [1, 2, 3, 4]
    for key in doomed:
        one_by_one.remove(key)
    at_once.remove_all(doomed)
    assert at_once.records.keys() == one_by_one.records.keys()
    assert at_once.by_property == one_by_one.by_property
    assert ("b", "2") not in at_once.by_property
    assert sorted(k.sequence_number for k in at_once.by_property[("a", "1")]) == [5, 6]


def test_matching_with_three_pairs_intersects_every_set() -> None:
    part = Partition()
    part.put(record(1, {"a": "1", "b": "2", "c": "3"}))
    part.put(record(2, {"a": "1", "b": "2"}))
    part.put(record(3, {"a": "1", "c": "3"}))
    assert part.matching({"a": "1", "b": "2", "c": "3"}) == [DeploymentKey("p", "e", 1)]
    assert sorted(part.matching({"c": "3"})) == [
        DeploymentKey("p", "e", 1),
        DeploymentKey("p", "e", 3),
    ]
