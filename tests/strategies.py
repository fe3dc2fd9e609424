"""Hypothesis strategies for Deployments API wire payloads: valid DeploymentData, and JSON-ish noise."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
GATING_COMMAND = "initiate_deployment_gating"

# st.text() draws any code point but surrogates: astral characters, combining marks and NUL included.
texts = st.text(max_size=255)
int64s = st.integers(INT64_MIN, INT64_MAX)
issue_keys = st.from_regex(r"[A-Za-z0-9_]{1,12}-[0-9]{1,8}", fullmatch=True)
issue_ids = st.from_regex(r"[0-9]{1,12}", fullmatch=True)

_PATH_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?#" + "éß漢🚀"
_hosts = st.from_regex(r"[a-z0-9]{1,20}(\.[a-z]{2,6}){0,2}(:[0-9]{1,5})?", fullmatch=True)
_escapes = st.from_regex(r"%[0-9A-Fa-f]{2}", fullmatch=True)
urls = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}/{''.join(path)}",
    st.sampled_from(["http", "https", "HTTPS"]),
    _hosts,
    st.lists(st.text(_PATH_CHARS, min_size=1, max_size=8) | _escapes, max_size=12),
)


@st.composite
def date_times(draw: st.DrawFn) -> str:
    """RFC 3339 date-times in the spellings clients use: fractions, Z or an offset, either case."""
    moment = draw(st.datetimes()).isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds", "microseconds"])))
    zone = draw(st.sampled_from(["Z", "z"]) | st.from_regex(r"[+-](0[0-9]|1[0-9]|2[0-3]):[0-5][0-9]", fullmatch=True))
    return (moment + zone).replace("T", draw(st.sampled_from(["T", "t"])))


def _values(of: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(of, min_size=1, max_size=5)


associations = st.one_of(
    st.fixed_dictionaries(
        {
            "associationType": st.sampled_from(["issueKeys", "issueIdOrKeys"]),
            "values": _values(issue_keys | issue_ids),
        }
    ),
    st.fixed_dictionaries({"associationType": st.just("serviceIdOrKeys"), "values": _values(texts)}),
    st.fixed_dictionaries(
        {
            "associationType": st.just("commit"),
            "values": _values(st.fixed_dictionaries({"commitHash": texts, "repositoryId": texts})),
        }
    ),
    st.fixed_dictionaries(
        {
            "associationType": st.just("repository"),
            "values": _values(st.fixed_dictionaries({"repositoryId": texts})),
        }
    ),
)

commands = st.fixed_dictionaries({}, optional={"command": st.just(GATING_COMMAND) | st.text(max_size=30)})


@st.composite
def deployment_data(draw: st.DrawFn) -> dict[str, Any]:
    """A valid DeploymentData in canonical form (int64s as JSON integers), optional fields at random."""
    data = draw(
        st.fixed_dictionaries(
            {
                "deploymentSequenceNumber": int64s,
                "updateSequenceNumber": int64s,
                "displayName": texts,
                "url": urls,
                "description": texts,
                "lastUpdated": date_times(),
                "state": st.sampled_from(
                    ["unknown", "pending", "in_progress", "cancelled", "failed", "rolled_back", "successful"]
                ),
                "pipeline": st.fixed_dictionaries({"id": texts, "displayName": texts, "url": urls}),
                "environment": st.fixed_dictionaries(
                    {
                        "id": texts,
                        "displayName": texts,
                        "type": st.sampled_from(["unmapped", "development", "testing", "staging", "production"]),
                    }
                ),
            },
            optional={
                "label": texts,
                "duration": int64s,
                "commands": st.lists(commands, max_size=3),
                "schemaVersion": st.just("1.0"),
                "triggeredBy": st.fixed_dictionaries({}, optional={"email": texts}),
            },
        )
    )
    links = draw(st.sampled_from(["issueKeys", "associations", "both"]))
    if links != "associations":
        data["issueKeys"] = draw(st.lists(issue_keys, min_size=1, max_size=5))
    if links != "issueKeys":
        data["associations"] = draw(st.lists(associations, min_size=1, max_size=3))
    return data


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path to a value inside nested dicts and lists (the root excluded)."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    found: list[tuple[str | int, ...]] = []
    for name, child in children:
        found.append((*prefix, name))
        found.extend(paths(child, (*prefix, name)))
    return found


@st.composite
def damaged_deployment_data(draw: st.DrawFn) -> dict[str, Any]:
    """A valid DeploymentData with one to three values replaced by JSON noise or removed."""
    data = draw(deployment_data())
    for _ in range(draw(st.integers(1, 3))):
        *parents, last = draw(st.sampled_from(paths(data)))
        holder: Any = data
        for part in parents:
            holder = holder[part]
        if isinstance(holder, dict) and draw(st.booleans()):
            del holder[last]
        else:
            holder[last] = draw(json_values)
    return data
