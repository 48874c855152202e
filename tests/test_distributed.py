"""The one Dask client of the experiments: --scheduler errors, the dashboard line, a given client left open."""

import dask
import pytest
from dask.distributed import Client, LocalCluster

from analysis.distributed import SchedulerError, dask_client, run_tasks
from market.cli import main

TINY = ["--rounds", "3", "--set", "population.owners=20", "--set", "churn.join_rate=0"]
#: One command line per experiment path that runs on Dask: grid sweep, designed sweep, tournament.
COMMANDS = {
    "grid": ["sweep", "quickstart", "--grid", "mechanism.sale_price=1,2", *TINY],
    "design": ["sweep", "quickstart", "--design", "lhs", "--samples", "2", "--param", "mechanism.sale_price=1:3",
               *TINY],
    "tournament": ["tournament", "--rules", "best_response", "--mechanisms", "posted_price", "--replicates", "2",
                   "--rounds", "3", "--owners", "20"],
}


def _square(x: int) -> int:
    return x * x


@pytest.mark.parametrize("kind", sorted(COMMANDS))
@pytest.mark.parametrize("address", ["nonsense", "foo://host:1"])
def test_malformed_scheduler_address_is_one_line_and_exit_2(kind, address, tmp_path, capsys):
    assert main([*COMMANDS[kind], "--scheduler", address, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"privmarket: error: scheduler: no Dask scheduler at '{address}'")


def test_unreachable_scheduler_is_one_line_and_exit_2(tmp_path, capsys):
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main([*COMMANDS["tournament"], "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "scheduler: no Dask scheduler at 'tcp://127.0.0.1:1' (OSError: Timed out" in err
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(SchedulerError, match="^scheduler: "), dask_client("tcp://127.0.0.1:1"):
        pass


@pytest.mark.parametrize("kind", ["design", "tournament"])
def test_the_dashboard_address_is_one_line_on_standard_error(kind, tmp_path, capsys):
    assert main([*COMMANDS[kind], "--workers", "1", "--threads", "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if "dashboard" in line]
    assert len(lines) == 1 and lines[0].startswith("privmarket: Dask dashboard: http://")
    assert "Dask dashboard" not in captured.out


def test_a_given_client_is_used_as_it_is_and_left_open(caplog):
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as given:
        with caplog.at_level("INFO", logger="analysis.distributed"), dask_client(client=given) as client:
            assert client is given
            results, failures = run_tasks(client, _square, [2, 3], ["a", "b"])
        assert sorted(results) == [4, 9] and failures == []
        assert given.status == "running" and "Dask dashboard" not in caplog.text
        with caplog.at_level("INFO", logger="analysis.distributed"), \
                dask_client(cluster.scheduler_address) as other:
            assert other.submit(_square, 5).result() == 25
        assert other.status == "closed" and given.status == "running"  # the scheduler's own client is closed
        assert caplog.text.count("Dask dashboard: ") == 1
