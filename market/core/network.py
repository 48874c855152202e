"""Social graphs among owners: who imitates and observes whom.

A :class:`SocialNetwork` is an undirected graph whose node *i* is the owner
in row *i* of :class:`~market.core.population.OwnerArrays`.  Graphs are generated
with networkx (Erdos-Renyi :math:`G(n, p)`, Watts-Strogatz small worlds,
Barabasi-Albert preferential attachment) or read from a file, and stored as a
symmetric ``scipy.sparse`` CSR adjacency matrix so that neighbour
computations (a random neighbour per owner, neighbour averages) are
vectorized over owners.  The complete graph is kept implicit (no matrix):
every other owner is a neighbour.

Under churn the graph follows the owners: leavers' rows and columns are
dropped, and each newcomer links to ``attach`` existing owners drawn
uniformly (Erdos-Renyi, Watts-Strogatz, file) or in proportion to degree
(Barabasi-Albert, preferential attachment as in Barabasi & Albert 1999,
*Science* 286).  Targets are drawn with replacement, so a newcomer whose
draws repeat gets fewer than ``attach`` links (a choice of this simulator:
it keeps the join step vectorized; the difference is negligible when
``attach`` is much smaller than the population).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

#: Graph kinds a scenario's ``[network] kind`` may name.
KINDS = ("complete", "erdos_renyi", "watts_strogatz", "barabasi_albert", "file")
#: ``[network]`` keys and their defaults (``attach = 0``: automatic, see :meth:`SocialNetwork.build`).
NETWORK_KEYS: dict[str, Any] = {"kind": "complete", "p": 0.01, "k": 4, "rewire": 0.1, "m": 2,
                                "file": "", "attach": 0}


def random_other(rows: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random other owner for each row in ``rows`` (the complete graph); -1 if alone."""
    if n < 2:
        return np.full(rows.size, -1, dtype=np.int64)
    j = rng.integers(0, n - 1, rows.size)
    return (j + (j >= rows)).astype(np.int64)


def read_graph(path: str | Path) -> nx.Graph:
    """Read a graph file: ``.graphml``, ``.gml``, or an edge list (any other suffix).

    Nodes are relabelled ``0 .. n-1`` in sorted order of their labels,
    numerically when every label is an integer (as in an edge list
    ``0 1 / 2 10``: node ``"10"`` becomes owner 10, not owner 2), else as text.

    Raises
    ------
    ValueError
        If the file is missing or cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"network.file: no such file {str(path)!r}")
    try:
        if path.suffix == ".graphml":
            graph = nx.read_graphml(path)
        elif path.suffix == ".gml":
            graph = nx.read_gml(path)
        else:
            graph = nx.read_edgelist(path)
    except Exception as exc:  # networkx raises many parser-specific types
        raise ValueError(f"network.file: cannot read {str(path)!r} ({exc})") from None
    graph = nx.Graph(graph)
    graph.remove_edges_from(nx.selfloop_edges(graph))
    labels = [str(node) for node in graph.nodes]
    numeric = all(label.lstrip("-").isdigit() for label in labels)
    order = sorted(graph.nodes, key=(lambda node: int(str(node))) if numeric else str)
    return nx.relabel_nodes(graph, {node: i for i, node in enumerate(order)})


class SocialNetwork:
    """An undirected social graph over the owners' rows.

    Parameters
    ----------
    adjacency : scipy.sparse.csr_array or None
        Symmetric 0/1 adjacency matrix without self-loops; ``None`` for the
        complete graph.
    n : int
        Number of owners (nodes).
    kind : str
        One of :data:`KINDS`.
    attach : int
        Links each newcomer makes.
    """

    def __init__(self, adjacency: sp.csr_array | None, n: int, kind: str, attach: int) -> None:
        self.adjacency = adjacency
        self.n = int(n)
        self.kind = kind
        self.attach = int(attach)

    # ------------------------------------------------------------ building
    @classmethod
    def build(cls, spec: Mapping[str, Any], n: int, rng: np.random.Generator) -> SocialNetwork:
        """Generate the graph a ``[network]`` table describes, for ``n`` owners.

        ``kind`` selects the generator: ``erdos_renyi`` (edge probability
        ``p``; :func:`networkx.fast_gnp_random_graph`), ``watts_strogatz``
        (ring of ``k`` nearest neighbours, rewiring probability ``rewire``),
        ``barabasi_albert`` (``m`` links per added node), ``file`` (``file``,
        see :func:`read_graph`; it must have exactly ``n`` nodes) or
        ``complete``.  ``attach`` (links per newcomer) defaults to ``m`` for
        Barabasi-Albert and to half the initial mean degree (at least 1) otherwise.

        Raises
        ------
        ValueError
            If the parameters do not fit ``n`` (e.g. ``k >= n``) or the file's node count differs.
        """
        spec = {**NETWORK_KEYS, **spec}
        kind = spec["kind"]
        if kind == "complete":
            return cls(None, n, kind, 0)
        seed = int(rng.integers(2**31 - 1))
        if kind == "erdos_renyi":
            graph = nx.fast_gnp_random_graph(n, float(spec["p"]), seed=seed)
        elif kind == "watts_strogatz":
            if not 0 < int(spec["k"]) < n:
                raise ValueError(f"network.k: must be in (0, {n}) for {n} owners")
            graph = nx.watts_strogatz_graph(n, int(spec["k"]), float(spec["rewire"]), seed=seed)
        elif kind == "barabasi_albert":
            if not 0 < int(spec["m"]) < n:
                raise ValueError(f"network.m: must be in (0, {n}) for {n} owners")
            graph = nx.barabasi_albert_graph(n, int(spec["m"]), seed=seed)
        elif kind == "file":
            graph = read_graph(spec["file"])
            if graph.number_of_nodes() != n:
                raise ValueError(f"network.file: the graph has {graph.number_of_nodes()} nodes "
                                 f"but the population has {n} owners")
        else:
            raise ValueError(f"network.kind: unknown kind {kind!r} (known: {', '.join(KINDS)})")
        adjacency = sp.csr_array(nx.to_scipy_sparse_array(graph, nodelist=range(n), format="csr"))
        adjacency.data[:] = 1.0
        attach = int(spec["attach"])
        if attach == 0:
            mean_degree = adjacency.nnz / max(n, 1)
            attach = int(spec["m"]) if kind == "barabasi_albert" else max(1, round(mean_degree / 2))
        return cls(adjacency, n, kind, attach)

    # ---------------------------------------------------------- neighbours
    @property
    def degree(self) -> np.ndarray:
        """Degree of every owner."""
        if self.adjacency is None:
            return np.full(self.n, max(self.n - 1, 0), dtype=np.int64)
        return np.diff(self.adjacency.indptr).astype(np.int64)

    def random_neighbour(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random neighbour of each owner in ``rows``; -1 for isolated owners."""
        if self.adjacency is None:
            return random_other(rows, self.n, rng)
        start = self.adjacency.indptr[rows]
        deg = self.adjacency.indptr[rows + 1] - start
        offset = np.floor(rng.random(rows.size) * deg).astype(np.int64)
        pos = np.minimum(start + offset, max(self.adjacency.indices.size - 1, 0))
        if self.adjacency.indices.size == 0:
            return np.full(rows.size, -1, dtype=np.int64)
        return np.where(deg > 0, self.adjacency.indices[pos], -1).astype(np.int64)

    def neighbour_mean(self, values: np.ndarray) -> np.ndarray:
        """Average of ``values`` over each owner's neighbours (local information).

        Isolated owners get their own value.
        """
        if self.adjacency is None:
            if self.n < 2:
                return values.astype(float)
            return (values.sum() - values) / (self.n - 1)
        deg = self.degree
        total = self.adjacency @ values
        return np.where(deg > 0, total / np.maximum(deg, 1), values)

    # --------------------------------------------------------------- churn
    def add(self, n_new: int, rng: np.random.Generator) -> None:
        """Append ``n_new`` owners, each linked to ``attach`` existing owners."""
        old = self.n
        self.n += int(n_new)
        if self.adjacency is None or n_new == 0:
            return
        a = self.adjacency
        padded = sp.csr_array((a.data, a.indices, np.concatenate([a.indptr, np.full(n_new, a.indptr[-1])])),
                              shape=(self.n, self.n))
        m = min(self.attach, old)
        if m == 0:
            self.adjacency = padded
            return
        deg = self.degree[:old].astype(float)
        if self.kind == "barabasi_albert" and deg.sum() > 0:
            targets = rng.choice(old, size=(n_new, m), p=deg / deg.sum())
        else:
            targets = rng.integers(0, old, (n_new, m))
        src = np.repeat(np.arange(old, self.n), m)
        dst = targets.ravel()
        links = sp.csr_array((np.ones(src.size), (src, dst)), shape=(self.n, self.n))
        adjacency = sp.csr_array(padded + links + links.T)
        adjacency.data[:] = 1.0
        self.adjacency = adjacency

    def remove(self, keep: np.ndarray) -> None:
        """Drop the owners whose ``keep`` entry is False (rows and columns)."""
        self.n = int(np.count_nonzero(keep))
        if self.adjacency is not None:
            self.adjacency = sp.csr_array(self.adjacency[keep][:, keep])

    # ---------------------------------------------------------- statistics
    def statistics(self) -> dict[str, float]:
        """Summary statistics of the current graph (for the run summary).

        ``nodes``, ``edges``, ``mean_degree``, ``max_degree``, ``density``,
        ``clustering`` (average local clustering coefficient, owners of degree
        < 2 counting 0, as :func:`networkx.average_clustering`), ``components``
        and ``largest_component_share``.
        """
        n = self.n
        if self.adjacency is None:
            edges = n * (n - 1) / 2
            return {"kind": self.kind, "nodes": n, "edges": edges, "mean_degree": float(max(n - 1, 0)),
                    "max_degree": max(n - 1, 0), "density": 1.0 if n > 1 else 0.0,
                    "clustering": 1.0 if n > 2 else 0.0, "components": 1 if n else 0,
                    "largest_component_share": 1.0 if n else 0.0}
        a = self.adjacency
        deg = self.degree.astype(float)
        triangles = np.asarray((a @ a).multiply(a).sum(axis=1)).ravel() / 2.0
        pairs = deg * (deg - 1) / 2.0
        local = np.divide(triangles, pairs, out=np.zeros(n), where=pairs > 0)
        n_comp, labels = connected_components(a, directed=False)
        largest = np.bincount(labels).max() if n else 0
        return {"kind": self.kind, "nodes": n, "edges": a.nnz / 2, "mean_degree": float(deg.mean()) if n else 0.0,
                "max_degree": int(deg.max(initial=0)), "density": a.nnz / (n * (n - 1)) if n > 1 else 0.0,
                "clustering": float(local.mean()) if n else 0.0, "components": int(n_comp),
                "largest_component_share": float(largest / n) if n else 0.0}

    def arrays(self) -> dict[str, np.ndarray]:
        """The graph as plain arrays (for checkpoints); inverse of :meth:`from_arrays`."""
        out = {"n": np.array([self.n]), "attach": np.array([self.attach]),
               "kind": np.array([KINDS.index(self.kind)])}
        if self.adjacency is not None:
            out.update(indptr=self.adjacency.indptr, indices=self.adjacency.indices)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> SocialNetwork:
        """Rebuild a graph saved by :meth:`arrays`."""
        n = int(arrays["n"][0])
        adjacency = None
        if "indptr" in arrays:
            indices = np.asarray(arrays["indices"])
            adjacency = sp.csr_array((np.ones(indices.size), indices, np.asarray(arrays["indptr"])),
                                     shape=(n, n))
        return cls(adjacency, n, KINDS[int(arrays["kind"][0])], int(arrays["attach"][0]))

    def to_networkx(self) -> nx.Graph:
        """The graph as a networkx ``Graph`` on nodes ``0 .. n-1`` (complete graph built explicitly)."""
        if self.adjacency is None:
            return nx.complete_graph(self.n)
        graph = nx.from_scipy_sparse_array(self.adjacency)
        graph.add_nodes_from(range(self.n))
        return graph
