"""Link rules: parsing, errors that name file/rule/allowed keys, default pairings, decay, select."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assetmap import ConfigError, rules, schema
from assetmap.rules import Decay, Rule, Selector, decay, parse_rules, select

FIXTURES = Path(__file__).parent / "fixtures" / "links"

DESIGN_EXAMPLE = """
[[rule]]
name = "clinical-skills-to-nhs"
micro = { category = "resident_skill", tags_any = ["doctor", "nurse", "midwife", "pharmacist"] }
macro = { category = "nhs_anchor" }
mode = "walk"          # falls back to euclidean where the network does not reach, with a note
max_minutes = 30
decay = { kind = "exponential", half_life_minutes = 15 }
"""


def test_design_example_parses() -> None:
    (rule,) = parse_rules(DESIGN_EXAMPLE)
    assert rule.name == "clinical-skills-to-nhs"
    assert rule.micro == Selector(
        category=("resident_skill",), tags_any=("doctor", "nurse", "midwife", "pharmacist")
    )
    assert rule.macro == Selector(category=("nhs_anchor",))
    assert rule.mode == "walk"
    assert rule.max_minutes == 30.0 and rule.max_metres is None
    assert rule.reach == (30.0, "minutes")
    assert rule.decay == Decay("exponential", 15.0, "minutes")


def test_file_with_two_rules() -> None:
    chefs, venues = parse_rules(FIXTURES / "rules_custom.toml")
    assert chefs.mode == "euclidean" and chefs.max_metres == 1500.0 and chefs.k == 2
    assert chefs.decay == Decay("gaussian", 500.0, "metres")
    assert venues.micro.tags_all == ("accessible", "hall")
    assert venues.macro.ids == ("H1",)
    assert venues.decay == Decay("linear", 25.0, "minutes")
    assert venues.description == ""


def test_path_given_as_text_is_read() -> None:
    assert [r.name for r in parse_rules(str(FIXTURES / "rules_custom.toml"))] == [
        "chefs-to-sites",
        "venues-near-hospital",
    ]


def test_unknown_key_names_file_rule_and_allowed_keys() -> None:
    path = FIXTURES / "rules_unknown_key.toml"
    with pytest.raises(ConfigError) as err:
        parse_rules(path)
    message = str(err.value)
    assert str(path) in message
    assert "rule #2" in message and "'typo-rule'" in message
    assert "'max_minuts'" in message
    assert (
        "allowed keys: name, description, micro, macro, mode, max_minutes, max_metres, k, decay"
        in message
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            'micro = { category = "x", tag_any = ["a"] }',
            "micro: unknown key 'tag_any' (allowed keys: category, tags_any, tags_all)",
        ),
        (
            'macro = { category = "x", tags_all = ["a"] }',
            "macro: unknown key 'tags_all' (allowed keys: category, tags_any, ids)",
        ),
        ('mode = "bus"', "mode 'bus' is not one of walk|cycle|drive|euclidean"),
        (
            'decay = { kind = "cubic" }',
            "kind 'cubic' is not one of step|linear|exponential|gaussian",
        ),
        ('decay = { kind = "exponential" }', "needs one of half_life_minutes, half_life_metres"),
        (
            'decay = { kind = "step", half_life_minutes = 3 }',
            "unknown key 'half_life_minutes' for kind 'step' (allowed keys: kind)",
        ),
        ("max_minutes = 30\nmax_metres = 100", "give max_minutes or max_metres, not both"),
        ("max_minutes = -5", "max_minutes -5 must be a positive number"),
        ('max_minutes = "30"', "max_minutes '30' must be a positive number"),
        ("k = 0", "k 0 must be a whole number"),
        ('decay = { kind = "linear" }', "decay linear needs a reach"),
        ("micro = { category = [] }", "category must be text or a non-empty list of text"),
    ],
)
def test_bad_values_are_config_errors(body: str, expected: str) -> None:
    text = f'[[rule]]\nname = "r1"\n{body}\n'
    with pytest.raises(ConfigError) as err:
        parse_rules(text, label="my-rules.toml")
    message = str(err.value)
    assert message.startswith("my-rules.toml: rule #1 ('r1')")
    assert expected in message


def test_missing_name_duplicate_name_syntax_and_top_level() -> None:
    with pytest.raises(ConfigError, match=r"rule #1: 'name' is required"):
        parse_rules('[[rule]]\nmode = "walk"\n')
    with pytest.raises(ConfigError, match=r"rule #2 name 'a' repeats rule #1"):
        parse_rules('[[rule]]\nname = "a"\n[[rule]]\nname = "a"\n')
    with pytest.raises(ConfigError, match=r"<rules text>: not valid TOML: .*line 2"):
        parse_rules('[[rule]]\nname = "a\n')
    with pytest.raises(ConfigError, match=r"unknown top-level key 'rules'"):
        parse_rules('[[rules]]\nname = "a"\n')
    with pytest.raises(ConfigError, match=r"nope\.toml: rules file not found"):
        parse_rules(Path("nope.toml"))


def test_default_rules_are_the_use_it_pairings() -> None:
    default = rules.default()
    by_name = {r.name: r for r in default}
    assert list(by_name) == [
        "clinical-skills-to-nhs",
        "health-care-consortium-to-hospital",
        "food-consortium-to-hospital",
        "built-environment-consortium-to-development-sites",
        "community-buildings-as-venues",
        "community-researchers-to-sites",
    ]
    clinical = by_name["clinical-skills-to-nhs"]
    assert clinical.micro.category == ("resident_skill",)
    assert clinical.micro.tags_any == schema.CLINICAL_SKILLS
    assert clinical.macro.category == ("nhs_anchor",)
    assert (clinical.mode, clinical.max_minutes) == ("walk", 30.0)
    assert by_name["health-care-consortium-to-hospital"].micro.tags_any == ("health_care",)
    assert by_name["food-consortium-to-hospital"].micro.tags_any == ("food",)
    assert by_name["food-consortium-to-hospital"].macro.category == ("nhs_anchor",)
    built = by_name["built-environment-consortium-to-development-sites"]
    assert built.micro.tags_any == ("built_environment",)
    assert built.macro.category == ("development_site",)
    every_site = ("development_site", "nhs_anchor", "anchor_institution")
    assert by_name["community-buildings-as-venues"].micro.category == ("community_building",)
    assert by_name["community-buildings-as-venues"].macro.category == every_site
    assert by_name["community-researchers-to-sites"].micro.category == ("community_researcher",)
    assert by_name["community-researchers-to-sites"].macro.category == every_site
    # Every category and tag named by the defaults is in the shipped vocabulary.
    for rule in default:
        for category in rule.micro.category:
            assert category in schema.MICRO_CATEGORIES
        for category in rule.macro.category:
            assert category in schema.MACRO_CATEGORIES
        for tag in rule.micro.tags_any:
            assert tag in schema.CLINICAL_SKILLS + schema.CONSORTIA


def test_straight_line_copy_keeps_reach() -> None:
    rule = rules.default()[0]
    line = rule.straight_line()
    assert line.mode == "euclidean" and line.max_minutes == rule.max_minutes
    assert rule.mode == "walk"


def test_decay_values() -> None:
    t = np.array([0.0, 7.5, 15.0, 30.0, 45.0, np.inf, np.nan])
    assert np.array_equal(decay("step", t, reach=30)[:6], [1, 1, 1, 1, 0, 0])
    np.testing.assert_allclose(decay("linear", t, reach=30)[:6], [1, 0.75, 0.5, 0, 0, 0])
    np.testing.assert_allclose(
        decay("exponential", t, half_life=15)[:6], [1, 2**-0.5, 0.5, 0.25, 0.125, 0]
    )
    np.testing.assert_allclose(
        decay("gaussian", t, sigma=15)[:6],
        [1, math.exp(-0.125), math.exp(-0.5), math.exp(-2), math.exp(-4.5), 0],
    )
    for kind, param in (
        ("step", "reach"),
        ("linear", "reach"),
        ("exponential", "half_life"),
        ("gaussian", "sigma"),
    ):
        assert np.isnan(decay(kind, t, **{param: 10.0})[-1])


def test_decay_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="not one of step"):
        decay("cubic", [1.0], reach=1)
    with pytest.raises(ValueError, match="takes exactly one parameter 'half_life'"):
        decay("exponential", [1.0], reach=1)
    with pytest.raises(ValueError, match="must be a positive finite number"):
        decay("gaussian", [1.0], sigma=0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1e5, allow_nan=False), min_size=1, max_size=30),
    st.sampled_from(["step", "linear", "exponential", "gaussian"]),
    st.floats(0.1, 1e4),
)
def test_decay_is_bounded_and_non_increasing(values: list[float], kind: str, scale: float) -> None:
    param = {"step": "reach", "linear": "reach", "exponential": "half_life", "gaussian": "sigma"}[
        kind
    ]
    t = np.sort(np.asarray(values))
    scores = decay(kind, t, **{param: scale})
    assert np.all((scores >= 0) & (scores <= 1))
    assert np.all(np.diff(scores) <= 1e-12)
    assert scores[0] <= 1.0 and decay(kind, [0.0], **{param: scale})[0] == 1.0


def test_select_is_vectorised_over_categories_and_tags() -> None:
    frame = pd.DataFrame(
        {
            "category": [
                "resident_skill",
                "resident_skill",
                "social_enterprise",
                None,
                "resident_skill",
            ],
            "tags": [["nurse", "overseas_qualified"], "chef; nurse", ["food"], ["nurse"], np.nan],
        },
        index=pd.Index(["a", "b", "c", "d", "e"], name="asset_id"),
    )
    skill = select(frame, Selector(category=("resident_skill",)))
    assert skill.tolist() == [True, True, False, False, True]
    nurses = select(frame, Selector(category=("resident_skill",), tags_any=("nurse", "midwife")))
    assert nurses.tolist() == [True, True, False, False, False]
    both = select(frame, {"tags_all": ["nurse", "overseas_qualified"]})
    assert both.tolist() == [True, False, False, False, False]
    assert select(frame, Selector(ids=("c", "e"))).tolist() == [False, False, True, False, True]
    assert select(frame, Selector()).all()
    assert select(frame.drop(columns="tags"), Selector(tags_any=("nurse",))).sum() == 0


def test_rule_objects_validate() -> None:
    with pytest.raises(ValueError, match="mode 'bus'"):
        Rule(name="x", mode="bus")
    with pytest.raises(ValueError, match="not both"):
        Rule(name="x", max_minutes=3, max_metres=3)
    assert Rule(name="x").reach is None
    assert "no reach limit" in Rule(name="x").describe()
    assert rules.as_rules(FIXTURES / "rules_custom.toml")[0].name == "chefs-to-sites"
    with pytest.raises(ValueError, match="repeated"):
        rules.as_rules([Rule(name="x"), Rule(name="x")])
