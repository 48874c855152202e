"""Social networks: generators, neighbour sampling, churn, statistics, model wiring."""

import networkx as nx
import numpy as np
import pytest

from market.core.network import SocialNetwork, random_other
from market.runner import Interrupted, resume, run
from market.simulation.model import DataMarket
from scenarios.schema import ScenarioError, load


def build(kind, n=300, seed=0, **spec):
    return SocialNetwork.build({"kind": kind, **spec}, n, np.random.default_rng(seed))


@pytest.mark.parametrize("kind,spec", [("erdos_renyi", {"p": 0.05}), ("watts_strogatz", {"k": 6, "rewire": 0.1}),
                                       ("barabasi_albert", {"m": 3})])
def test_statistics_match_networkx(kind, spec):
    net = build(kind, **spec)
    graph = net.to_networkx()
    stats = net.statistics()
    assert stats["nodes"] == graph.number_of_nodes() == 300
    assert stats["edges"] == graph.number_of_edges()
    assert stats["clustering"] == pytest.approx(nx.average_clustering(graph), abs=1e-12)
    assert stats["components"] == nx.number_connected_components(graph)
    assert stats["mean_degree"] == pytest.approx(2 * graph.number_of_edges() / 300)
    np.testing.assert_array_equal(net.degree, [d for _, d in sorted(graph.degree())])


def test_generators_have_their_textbook_properties():
    er = build("erdos_renyi", n=2000, p=0.005).statistics()
    assert er["mean_degree"] == pytest.approx(0.005 * 1999, rel=0.05)  # E[degree] = p (n - 1)
    ws = build("watts_strogatz", n=2000, k=6, rewire=0.0).statistics()
    assert ws["clustering"] == pytest.approx(3 * (6 - 2) / (4 * (6 - 1)))  # ring lattice: 3(k-2)/(4(k-1))
    ba = build("barabasi_albert", n=2000, m=3).statistics()
    assert ba["edges"] == 3 * (2000 - 3)  # m edges per added node
    assert ba["max_degree"] > 10 * ba["mean_degree"] / 2  # hubs


def test_random_neighbour_is_uniform_over_neighbours():
    net = build("barabasi_albert", n=50, m=2, seed=3)
    rng = np.random.default_rng(1)
    row = int(np.argmax(net.degree))
    draws = net.random_neighbour(np.full(20000, row), rng)
    neighbours = set(net.adjacency.indices[net.adjacency.indptr[row]:net.adjacency.indptr[row + 1]].tolist())
    assert set(draws.tolist()) == neighbours
    freq = np.bincount(draws, minlength=50)[sorted(neighbours)] / draws.size
    np.testing.assert_allclose(freq, 1 / len(neighbours), atol=4 * np.sqrt(1 / len(neighbours) / 20000))


def test_isolated_owner_has_no_neighbour_and_complete_graph_excludes_self():
    net = build("erdos_renyi", n=20, p=0.0)
    assert np.all(net.random_neighbour(np.arange(20), np.random.default_rng(0)) == -1)
    rows = np.repeat(np.arange(5), 2000)
    other = random_other(rows, 5, np.random.default_rng(0))
    assert np.all(other != rows) and set(other.tolist()) == set(range(5))
    assert np.all(random_other(np.arange(1), 1, np.random.default_rng(0)) == -1)


def test_neighbour_mean_is_adjacency_average():
    net = build("watts_strogatz", n=100, k=4, rewire=0.3)
    values = np.random.default_rng(2).random(100)
    graph = net.to_networkx()
    expected = [np.mean([values[j] for j in graph[i]]) for i in range(100)]
    np.testing.assert_allclose(net.neighbour_mean(values), expected)
    complete = build("complete", n=10)
    np.testing.assert_allclose(complete.neighbour_mean(np.arange(10.0)), (45 - np.arange(10.0)) / 9)


def test_churn_keeps_graph_consistent():
    net = build("barabasi_albert", n=200, m=2)
    rng = np.random.default_rng(5)
    graph = net.to_networkx()
    keep = rng.random(200) > 0.2
    net.remove(keep)
    expected = nx.convert_node_labels_to_integers(graph.subgraph(np.flatnonzero(keep).tolist()), ordering="sorted")
    assert net.n == int(keep.sum())
    assert nx.utils.graphs_equal(net.to_networkx(), expected)
    before = net.adjacency.nnz
    net.add(10, rng)
    a = net.adjacency
    assert net.n == a.shape[0] == keep.sum() + 10
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0  # symmetric, no self-loops
    assert np.all(net.degree[-10:] >= 1) and np.all(net.degree[-10:] <= 2)
    assert a[:-10][:, :-10].nnz == before  # old edges untouched


def test_graph_file_round_trip(tmp_path):
    graph = nx.path_graph(30)
    nx.write_edgelist(graph, tmp_path / "g.edgelist")
    net = SocialNetwork.build({"kind": "file", "file": str(tmp_path / "g.edgelist")}, 30, np.random.default_rng(0))
    assert net.statistics()["edges"] == 29
    with pytest.raises(ValueError, match="network.file: the graph has 30 nodes but the population has 31"):
        SocialNetwork.build({"kind": "file", "file": str(tmp_path / "g.edgelist")}, 31, np.random.default_rng(0))


def test_checkpoint_arrays_round_trip():
    net = build("watts_strogatz", n=60, k=4)
    back = SocialNetwork.from_arrays(net.arrays())
    assert back.kind == net.kind and back.attach == net.attach
    assert (back.adjacency != net.adjacency).nnz == 0


def test_model_graph_follows_churn(tiny):
    tiny.update(rounds=30, churn={"leave_rate": 0.05, "join_rate": 3.0})
    tiny["network"] = {"kind": "barabasi_albert", "m": 2}
    tiny["decision"] = {"rule": "imitation"}
    model = DataMarket(tiny)
    model.run()
    assert model.network.n == len(model.owners) == model.network.adjacency.shape[0]
    assert model.context().network is model.network


def test_network_errors_name_the_key(tiny, tmp_path):
    cases = [({"kind": "ring"}, "network.kind: unknown kind 'ring'"),
             ({"kind": "erdos_renyi", "p": 1.5}, "network.p: must be <= 1"),
             ({"kind": "file", "file": str(tmp_path / "none.txt")}, "network.file: no such graph file"),
             ({"kind": "watts_strogatz", "k": 0}, "network.k: must be >= 1"),
             ({"degree": 3}, "network.degree: unknown key")]
    for spec, message in cases:
        tiny["network"] = spec
        with pytest.raises(ScenarioError, match=message):
            load(tiny)


@pytest.mark.parametrize("rule", ["imitation", "regret_matching", "exp3"])
def test_stop_and_resume_keeps_graph_rule_state_and_drift(tmp_path, tiny, rule):
    tiny.update(rounds=40, churn={"leave_rate": 0.03, "join_rate": 2.0},
                network={"kind": "barabasi_albert", "m": 2}, drift={"random_walk_sd": 0.05})
    tiny["decision"] = {"rule": rule}
    run(tiny, out=tmp_path / "ref")
    calls = {"n": 0}

    def stop_at_17():
        calls["n"] += 1
        return calls["n"] == 17

    with pytest.raises(Interrupted):
        run(tiny, out=tmp_path / "cut", stop=stop_at_17)
    resume(tmp_path / "cut")
    for name in ("model", "owners", "events"):
        assert (tmp_path / "cut" / f"{name}.parquet").read_bytes() == \
            (tmp_path / "ref" / f"{name}.parquet").read_bytes(), name


def test_graph_file_with_integer_labels_keeps_owner_numbers(tmp_path):
    (tmp_path / "star.edgelist").write_text("10 0\n10 1\n10 2\n3 4\n5 6\n7 8\n9 11\n")  # "10" sorts before "2" as text
    net = SocialNetwork.build({"kind": "file", "file": str(tmp_path / "star.edgelist")}, 12, np.random.default_rng(0))
    assert net.degree[10] == 3 and net.degree[2] == 1
    assert sorted(net.to_networkx()[10]) == [0, 1, 2]
