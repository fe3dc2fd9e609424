"""The benchmark's table shows each ratio on the side of its target that the verdict is on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from benchmarks.report import ratio_text

RATIOS = st.floats(min_value=0.01, max_value=100, allow_nan=False)
TARGETS = st.sampled_from([0.6, 0.7, 0.9, 1.0, 1.3, 1.5, 5.0])


OFFSETS = st.floats(min_value=-0.01, max_value=0.01, allow_nan=False)  # near the target, where rounding crosses it


@given(st.one_of(st.tuples(RATIOS, st.just(0.0)), st.tuples(st.just(0.0), OFFSETS)), TARGETS, st.booleans())
def test_a_ratio_is_shown_on_its_side_of_the_target(drawn: tuple[float, float], target: float, at_most: bool) -> None:
    ratio, offset = drawn
    value = ratio or target + offset
    shown = float(ratio_text(value, target, at_most=at_most).removesuffix("×"))
    if at_most:
        assert (shown <= target) == (value <= target)
    else:
        assert (shown >= target) == (value >= target)


def test_two_decimals_unless_they_would_cross_the_target() -> None:
    assert ratio_text(0.7612, 0.7) == "0.76×"
    assert ratio_text(0.5952, 0.6) == "0.595×"
    assert ratio_text(0.59996, 0.6) == "0.59996×"
    assert ratio_text(1.304, 1.3, at_most=True) == "1.304×"
    assert ratio_text(1.296, 1.3, at_most=True) == "1.30×"
