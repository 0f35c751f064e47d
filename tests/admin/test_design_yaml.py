"""The YAML form of a draft (`healthscore.yamlio`): exact both ways (generated rulesets of
both models, and a draft with every feature and edge the proto allows), every problem of a broken
file at its line, and the engine's errors shown at the line of the field they name."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from healthscore import engine, yamlio
from healthscore.admin import diff
from healthscore.errors import InvalidRulesetError
from healthscore_client.v1 import catalog_pb2, criteria_pb2, profile_service_pb2, ruleset_pb2
from tests.strategies import examples, rulesets

O = criteria_pb2  # noqa: E741


def draft_of(ruleset: ruleset_pb2.Ruleset, etag: str = "") -> profile_service_pb2.Draft:
    draft = profile_service_pb2.Draft(profiles=ruleset.profiles, etag=etag)
    if ruleset.HasField("settings"):
        draft.settings.CopyFrom(ruleset.settings)
    return draft


def assert_exact(model: int, draft: profile_service_pb2.Draft, catalog: catalog_pb2.Catalog) -> str:
    text = yamlio.dump(model, draft, catalog)
    loaded = yamlio.load(text)
    assert loaded.model == model
    assert loaded.draft == draft
    assert loaded.catalog == catalog
    assert yamlio.dump(loaded.model, loaded.draft, loaded.catalog) == text
    return text


@settings(max_examples=examples(2000))
@given(rulesets())
def test_generated_rulesets_read_back_exactly(ruleset: ruleset_pb2.Ruleset) -> None:
    assert_exact(ruleset.model, draft_of(ruleset, etag="1-abc"), ruleset.catalog)


def predicate(attribute: str, op: int = 0, **operand: object) -> criteria_pb2.Criterion:
    return criteria_pb2.Criterion(
        predicate=criteria_pb2.Predicate(attribute=attribute, operator=op, **operand)  # type: ignore[arg-type]
    )


def every_feature() -> tuple[profile_service_pb2.Draft, catalog_pb2.Catalog]:
    """A draft using every field, operand kind and presence the messages have, valid or not
    (drafts may be invalid while edited), with the strings and numbers YAML finds hardest."""
    catalog = catalog_pb2.Catalog(etag="7-cafe")
    catalog.dimensions.add(name="usage", display_name="Usage: «daily»")
    catalog.dimensions.add(name="yes")
    catalog.attributes.add(name="n", display_name="N\nline two", type=1, dimension="usage")
    catalog.attributes.add(name="o", type=5, ordinal_levels=["null", "~", "1", "on", " x "])
    catalog.attributes.add(name="untyped")
    catalog.attributes.add(name="weird", type=99)  # a type this client does not know
    draft = profile_service_pb2.Draft(etag="3-beef")
    draft.settings.poor_max = 0
    draft.settings.ignore_missing = False
    draft.settings.enterprise.method = ruleset_pb2.ENTERPRISE_METHOD_CONTRACT_VALUE
    draft.settings.enterprise.good_share_percent = 100
    md = draft.profiles.add(name="md: one", display_name="#not a comment")
    md.dimensions.add(dimension="usage", weight=0)
    numbers = [-0.0, 0.1, 1e308, -5e-324, 2.0**53, 2.0**53 + 2, -3.0, float("inf"), 1e16]
    for i, x in enumerate(numbers):
        metric = md.metrics.add(attribute="n", weight=-i)
        metric.good.CopyFrom(predicate("n", O.OPERATOR_LESS_THAN, number=x))
        if i % 2:
            metric.poor.CopyFrom(criteria_pb2.Criterion())  # set, with no kind
    md.metrics.add(attribute="")  # no criteria at all
    ah = draft.profiles.add(name="ah")
    ah.segment.all.SetInParent()  # an empty `all`: a default profile
    category = ah.categories.add(name="c")
    category.good.extend(
        [
            predicate("o", O.OPERATOR_IN, text_set=criteria_pb2.TextSet(values=["yes", "\x85"])),
            predicate("o", O.OPERATOR_NOT_IN, text_set=criteria_pb2.TextSet()),
            predicate("t", O.OPERATOR_BETWEEN, day_range=criteria_pb2.DayRange(low=-(2**63))),
            predicate("n", O.OPERATOR_BETWEEN, number_range=criteria_pb2.NumberRange(high=-0.0)),
            predicate("t", O.OPERATOR_WITHIN_LAST_DAYS, days=2**63 - 1),
            predicate("n", O.OPERATOR_LESS_THAN, number=-20, change_period_days=30),
            predicate("", 0, text=""),
            predicate("o", 77, text="false"),  # an operator this client does not know
        ]
    )
    nested = category.poor.add()
    nested.negation.any.of.add().all.of.add().negation.CopyFrom(predicate("x", O.OPERATOR_IS_EMPTY))
    nested.negation.any.of.add()
    ah.categories.add(name="")
    draft.profiles.add(name="bare").segment.SetInParent()
    return draft, catalog


def test_every_feature_reads_back_exactly() -> None:
    draft, catalog = every_feature()
    for model in yamlio.MODELS.values():
        text = assert_exact(model, draft, catalog)
    assert "number: -0.0" in text and "number: 1.0e+308" in text and "number: 60" not in text
    assert "{attribute: o, operator: 77, text: 'false'}" in text
    assert "- {name: weird, type: 99}" in text


def test_settings_presence_and_defaults_are_kept() -> None:
    _, catalog = every_feature()
    without = profile_service_pb2.Draft()
    text = assert_exact(ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL, without, catalog)
    assert "settings" not in text.split("\ncatalog:")[0].split("\n", 5)[-1]
    empty = profile_service_pb2.Draft(settings=ruleset_pb2.ModelSettings())
    assert "settings:\n  ignore_missing: false\n" in assert_exact(2, empty, catalog)


BROKEN = """\
# a comment
model: multidimensional
settings:
  poor_max: forty
  good_min: 70.5
  colour: red
catalog:
  dimensions:
    - {name: usage}
  attributes:
    - {name: n, type: numeric, dimension: usage}
    - {display_name: no name}
profiles:
  - name: p
    dimensions:
      - {dimension: usage, weight: 100}
    metrics:
      - attribute: n
        weight: 100
        good: {attribute: n, operator: '>=', number: high}
        poor: {attribute: n, operator: less_than, number: 1, text: x}
        extra: 1
  - name: q
    name: q2
    segment: {all: [{attribute: n, operator: is_empty}], any: []}
  - just text
"""


def test_a_broken_file_reports_every_problem_at_its_line() -> None:
    with pytest.raises(yamlio.FileError) as caught:
        yamlio.load(BROKEN)
    shown = [p.render("p.yaml") for p in caught.value.problems]
    assert shown == [
        "p.yaml:4: settings.poor_max: expected an integer, got text",
        "p.yaml:5: settings.good_min: expected an integer, got a number",
        "p.yaml:6: settings.colour: unknown key; expected one of: poor_max, good_min, "
        "ignore_missing, enterprise",
        "p.yaml:11: catalog.attributes[0].type: expected one of: number, text, bool, time, ordinal",
        "p.yaml:12: catalog.attributes[1]: missing key 'name'",
        "p.yaml:20: profiles[0].metrics[0].good.number: expected a number, got text",
        "p.yaml:21: profiles[0].metrics[0].poor: expected at most one operand, got number, text",
        "p.yaml:22: profiles[0].metrics[0].extra: unknown key; expected one of: attribute, "
        "weight, good, poor",
        "p.yaml:24: profiles[1].name: duplicate key",
        "p.yaml:25: profiles[1].segment: expected one of all, any, not or a predicate, got all, "
        "any",
        "p.yaml:26: profiles[2]: expected a mapping, got text",
    ]


def test_yaml_syntax_errors_and_empty_files() -> None:
    with pytest.raises(yamlio.FileError) as caught:
        yamlio.load("model: multidimensional\nprofiles: [\n")
    [problem] = caught.value.problems
    assert problem.line == 3 and "not valid YAML" in problem.message
    with pytest.raises(yamlio.FileError) as caught:
        yamlio.load("# nothing\n")
    assert caught.value.problems[0].message == "the file is empty"


SEMANTIC = """\
model: multidimensional
catalog:
  dimensions: [{name: usage}]
  attributes:
    - {name: n, type: number, dimension: usage}
    - {name: o, type: ordinal, ordinal_levels: [low, high]}
profiles:
  - name: p
    dimensions:
      - {dimension: usage, weight: 90}
    metrics:
      - attribute: n
        weight: 100
        good:
          any:
            - {attribute: o, operator: at_least, text: medium}
            - {attribute: n, operator: between}
        poor: {attribute: nope, operator: less_than, number: 1}
  - name: p
"""


def test_engine_errors_are_shown_at_the_line_of_their_field() -> None:
    loaded = yamlio.load(SEMANTIC)
    with pytest.raises(InvalidRulesetError) as caught:
        engine.compile_ruleset(loaded.ruleset())
    shown = {}
    for v in caught.value.violations:
        line, path = loaded.locate(v.path)
        shown[path] = line
    assert shown["profiles[0].dimensions"] == 9
    assert shown["profiles[0].metrics[0].good.any[0].text"] == 16
    assert shown["profiles[0].metrics[0].good.any[1].number_range"] == 17
    assert shown["profiles[0].metrics[0].poor.attribute"] == 18
    assert shown["profiles[1].name"] == 19


def test_symbols_are_accepted_for_comparisons() -> None:
    loaded = yamlio.load(SEMANTIC.replace("operator: less_than", "operator: '<'"))
    assert loaded.draft.profiles[0].metrics[0].poor.predicate.operator == O.OPERATOR_LESS_THAN


def test_diff_matches_named_entries_and_reports_old_and_new() -> None:
    old = yamlio.load(SEMANTIC.replace("  - name: p\n", "  - name: q\n", 1)).ruleset()
    new = ruleset_pb2.Ruleset()
    new.CopyFrom(old)
    new.profiles[0].metrics[0].poor.predicate.number = 2
    new.profiles[0].dimensions[0].weight = 100
    new.profiles[0].metrics[0].good.any.of[0].predicate.text = "high"
    profiles = [ruleset_pb2.Profile(name="first"), new.profiles[1], new.profiles[0]]
    del new.profiles[:]
    new.profiles.extend(profiles)
    new.settings.good_min = 80
    result = diff.compare(old, new)
    assert not result.equal and result.reordered
    assert result.added == ["first"] and result.removed == []
    assert [c.render() for c in result.settings] == ["+ good_min: 80"]
    assert [c.render() for c in result.changed["q"]] == [
        "~ dimensions[usage].weight: 90 → 100",
        "~ metrics[n].good.any[0].text: medium → high",
        "~ metrics[n].poor.number: 1 → 2",
    ]
    assert result.lines()[-5:-3] == ["  ~ order: q, p → first, p, q", "  ~ q:"]
    assert diff.compare(old, old).equal
