"""The store shares the strings deployments repeat (key ids, environment type) without changing what it holds."""

from emulator.domain.model import DeploymentKey, StoredDeployment
from emulator.domain.store import Partition


def fresh(text: str) -> str:
    """An equal string that is a new object, as each parsed request brings."""
    return "".join(list(text))


def record(n: int, props: dict[str, str], usn: int = 1) -> StoredDeployment:
    key = DeploymentKey(fresh("pipeline-a"), fresh("env-prod"), n)
    return StoredDeployment(key, usn, b"{}", props, fresh("production"), 0.0)


def test_stored_records_share_key_strings_and_environment_type() -> None:
    part = Partition()
    first, second = record(1, {"a": "1"}), record(2, {"a": "1"})
    assert first.key.pipeline_id is not second.key.pipeline_id
    part.put(first)
    part.put(second)
    one, two = (
        part.records[DeploymentKey("pipeline-a", "env-prod", 1)],
        part.records[DeploymentKey("pipeline-a", "env-prod", 2)],
    )
    assert one.key.pipeline_id is two.key.pipeline_id
    assert one.key.environment_id is two.key.environment_id
    assert one.environment_type is two.environment_type
    assert type(one.key) is DeploymentKey and one.key.sequence_number == 1


def test_sharing_keeps_keys_equal_and_the_index_consistent() -> None:
    part = Partition()
    original = record(1, {"a": "1"})
    key = original.key
    part.put(original)
    assert list(part.records) == [key]
    assert part.matching({"a": "1"}) == [key]
    assert part.by_property == {("a", "1"): {key}}
    part.put(record(1, {"a": "2"}, usn=2))  # a new write of the same deployment, with fresh strings
    assert len(part.records) == 1 and part.records[key].update_sequence_number == 2
    assert part.by_property == {("a", "2"): {key}}
    assert part.remove(DeploymentKey(fresh("pipeline-a"), fresh("env-prod"), 1)) is not None
    assert part.records == {} and part.by_property == {}


def test_a_str_subclass_is_kept_as_it_is() -> None:
    class Text(str):
        pass

    part = Partition()
    odd = StoredDeployment(DeploymentKey(Text("p"), "e", 1), 1, b"{}", {}, Text("production"), 0.0)
    part.put(odd)
    stored = part.records[DeploymentKey("p", "e", 1)]
    assert type(stored.key.pipeline_id) is Text and type(stored.environment_type) is Text
