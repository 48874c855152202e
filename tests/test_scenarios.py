"""Scenario validation: every user mistake is a one-line error naming file and key, exit 2."""

import pytest

from market.cli import main
from scenarios.schema import ScenarioError, builtin_names, load

BAD_OVERRIDES = [
    ("mechanism.colour=1", "mechanism.colour: unknown key"),
    ("population.types.0.sensitivity=-0.5", "population.types[0].sensitivity: negative sensitivity"),
    ("population.types.0.share=0.9", "population.types.share: probabilities sum to 1.2, not 1"),
    ('mechanism.name="no_such"', "mechanism.name: unknown mechanism 'no_such'"),
    ('decision.rule="guess"', "decision.rule: unknown decision rule 'guess'"),
    ('decision.revision="sometimes"', "decision.revision: unknown revision"),
    ("rounds=0", "rounds: must be >= 1"),
    ("mechanism.price=[0.0, 1.0]", "mechanism: privacy_cost: needs 2 entries"),
    ('population.types.0.sensitivity={dist="gamma", k=2}', "population.types[0].sensitivity.dist: unknown distribution"),
    ('population.types.0.sensitivity={dist="uniform", low=0.0}', "population.types[0].sensitivity.high: missing parameter"),
    ("churn.leave_rate=1.5", "churn.leave_rate: must be <= 1"),
    ("mechanism.sale_price=true", "mechanism.sale_price: expected a number"),
    ("surprise=1", "surprise: unknown key"),
]


@pytest.mark.parametrize(("override", "message"), BAD_OVERRIDES)
def test_bad_input_is_one_line_error_with_exit_2(override, message, capsys, tmp_path):
    code = main(["run", "quickstart", "--out", str(tmp_path), "--set", override])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith("privmarket: error: quickstart.toml: ")
    assert message in err


def test_bad_file_names_the_file(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n[population]\nowners = 3\n[[population.types]]\nsensitivity = -1\n'
                    '[mechanism]\nname = "posted_price"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: population.types[0].sensitivity: negative sensitivity (-1)" in err


def test_invalid_toml_and_missing_file(tmp_path, capsys):
    path = tmp_path / "broken.toml"
    path.write_text("rounds = = 3\n")
    assert main(["run", str(path)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "absent.toml")]) == 2
    assert "no such scenario file" in capsys.readouterr().err


def test_probability_vector_of_choice_distribution(tiny):
    tiny["population"]["types"][0]["sensitivity"] = {"dist": "choice", "values": [0.1, 0.2], "p": [0.5, 0.6]}
    with pytest.raises(ScenarioError, match=r"sensitivity.p: probabilities sum to 1.1, not 1"):
        load(tiny)


def test_explicit_population_and_defaults(tiny):
    del tiny["population"]["owners"], tiny["population"]["types"]
    tiny["population"]["owner"] = [{"sensitivity": 0.2, "count": 3}, {"sensitivity": 5.0, "data_size": 2.0}]
    scenario = load(tiny)
    resolved = scenario.to_dict()
    assert resolved["mechanism"]["value"] == [0.0, 0.8, 1.5]  # default filled in
    assert resolved["decision"]["damping"] == 0.0
    assert [o["count"] for o in resolved["population"]["owner"]] == [3, 1]


def test_overrides_reach_nested_values(tiny):
    scenario = load(tiny, ["mechanism.price=[0.0, 0.7, 2.0]", "population.types.1.sensitivity=0.25"])
    assert scenario.mechanism.params.price == (0.0, 0.7, 2.0)
    assert scenario.population.types[1]["sensitivity"] == 0.25


def test_every_builtin_scenario_validates():
    for name in builtin_names():
        assert load(name).rounds >= 1


def test_rounds_flag_is_validated(capsys, tmp_path):
    assert main(["run", "quickstart", "--rounds", "0", "--out", str(tmp_path)]) == 2
    assert "rounds: must be >= 1" in capsys.readouterr().err
