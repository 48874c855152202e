"""Sampling designs (SALib) in sweeps and the sensitivity indices computed from them."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dask.distributed import Client, LocalCluster

from analysis.design import make_design, parse_params
from analysis.design import designed_sweep
from market.simulation.provenance import read_provenance
from analysis.sensitivity import sensitivity

#: Quickstart made small and settled after one round: every owner revises synchronously, no churn.
SMALL = ["population.owners=100", 'decision.revision="synchronous"', "churn.leave_rate=0.0", "churn.join_rate=0.0"]
#: Four parameters: the buyers' sale price and arrival rate cannot move the owners' shares under
#: posted prices (owners do not see buyers); the top price level and the middle level's privacy cost must.
PARAMS = ["mechanism.sale_price=1:3", "buyers.arrival_rate=0.1:0.5", "mechanism.price.2=0.6:1.6",
          "mechanism.privacy_cost.1=0.2:0.6"]


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")
    with Client(cluster) as c:
        yield c
    cluster.close()


def test_parse_params_ranges_integers_and_categories():
    p = parse_params(["a.b=0.5:2", "population.owners=10:50", 'decision.rule=best_response,"hedge"'])
    assert (p[0].low, p[0].high, p[0].integer) == (0.5, 2.0, False)
    assert p[1].integer and p[1].value(17.6) == 18
    assert p[2].values == ("best_response", "hedge") and p[2].bounds == [0.0, 2.0]
    assert p[2].value(0.99) == "best_response" and p[2].value(2.0) == "hedge"
    for bad, message in (("x=2:1", "LOW must be below HIGH"), ("x=a:b", "two numbers"), ("x=3", "at least two")):
        with pytest.raises(ValueError, match=message):
            parse_params([bad])


def test_design_sizes_and_seed():
    params = parse_params(PARAMS)
    assert make_design("sobol", params, 8, seed=1).x.shape == (8 * (2 * 4 + 2), 4)
    assert make_design("morris", params, 3, seed=1).x.shape == (3 * 5, 4)
    lhs = make_design("lhs", params, 10, seed=1)
    assert lhs.x.shape == (10, 4)
    assert np.array_equal(lhs.x, make_design("lhs", params, 10, seed=1).x)
    assert not np.array_equal(lhs.x, make_design("lhs", params, 10, seed=2).x)
    # a Latin hypercube puts exactly one point in each of the 10 strata of every parameter
    for j, p in enumerate(params):
        strata = np.floor((lhs.x[:, j] - p.low) / (p.high - p.low) * 10).astype(int)
        assert sorted(strata) == list(range(10))
    with pytest.raises(ValueError, match="power of 2"):
        make_design("sobol", params, 6)


@pytest.mark.slow  # 160 runs (N = 16, four parameters): 12-13 s under load; N = 8 leaves the intervals barely apart
def test_sobol_intervals_separate_a_parameter_that_cannot_matter_from_one_that_must(client, tmp_path):
    result = designed_sweep("quickstart", "sobol", parse_params(PARAMS), 16, seed=3, out=tmp_path / "s",
                            rounds=3, overrides=SMALL, client=client)
    assert result.failures == [] and len(result.summary) == 16 * 10
    design = json.loads((tmp_path / "s" / "design.json").read_text())
    assert (design["design"], design["seed"], design["samples"], design["points"]) == ("sobol", 3, 16, 160)
    meta = read_provenance(pq.read_schema(tmp_path / "s" / "summary.parquet"))
    assert (meta["design"], meta["design_seed"], meta["samples"]) == ("sobol", 3, 16)
    s = sensitivity(tmp_path / "s", "share_2")
    t = s.table.set_index("parameter")
    for dead in ("mechanism.sale_price", "buyers.arrival_rate"):
        assert t.loc[dead, "ST"] == pytest.approx(0.0, abs=1e-12)
        assert t.loc[dead, "ST"] + t.loc[dead, "ST_conf"] < t.loc["mechanism.price.2", "ST"] \
            - t.loc["mechanism.price.2", "ST_conf"]
    assert t.loc["mechanism.price.2", "ST"] > 0.5
    assert len(s.second_order) == 6
    for name in ("indices_share_2.parquet", "indices_share_2.csv", "second_order_share_2.csv",
                 "indices_share_2.png", "indices_share_2.svg"):
        assert (tmp_path / "s" / "sensitivity" / name).is_file()


def test_morris_mu_star_is_zero_for_an_inert_parameter(client, tmp_path):
    designed_sweep("quickstart", "morris", parse_params(PARAMS), 4, seed=0, out=tmp_path / "m", rounds=3,
                   overrides=SMALL, client=client)
    t = sensitivity(tmp_path / "m", "share_2").table.set_index("parameter")
    assert t.loc["mechanism.sale_price", "mu_star"] == 0.0 and t.loc["mechanism.sale_price", "sigma"] == 0.0
    assert t.loc["mechanism.price.2", "mu_star"] > 0.05
    with pytest.raises(ValueError, match="no numeric column 'nosuch'"):
        sensitivity(tmp_path / "m", "nosuch")


def test_cli_design_errors(capsys):
    from market.cli import main

    assert main(["sweep", "quickstart", "--design", "sobol", "--param", "mechanism.sale_price=1:3",
                 "--samples", "6", "--out", "/tmp/never"]) == 2
    assert capsys.readouterr().err.strip() == "privmarket: error: samples: a Sobol design needs a power of 2, got 6"
    assert main(["sweep", "quickstart", "--param", "mechanism.sale_price=1:3", "--out", "/tmp/never"]) == 2
    assert "need --design" in capsys.readouterr().err
